"""The SSH tunnel shuts down quietly: through a real OpenSSH sshd on 127.0.0.1, many open / request /
close cycles (the client's keep-alive connection still open when the tunnel closes, as after
`testbed devices --live`) leave no exception in any thread and no traceback on stderr.

Issue 11: closing a channel after the SSH connection was gone raised paramiko's EOFError in the
tunnel's serving thread (a traceback after a clean exit, 4 runs in 10).
"""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from helpers import sshd as sshd_helper
from helpers.cli import run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd_helper.Sshd]:
    server = sshd_helper.start(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture()
def thread_errors() -> Iterator[list[threading.ExceptHookArgs]]:
    """Every exception that ends a thread during the test (the traceback issue 11 saw)."""
    seen: list[threading.ExceptHookArgs] = []
    previous = threading.excepthook
    threading.excepthook = seen.append
    yield seen
    threading.excepthook = previous


@pytest.fixture(scope="module")
def http_server() -> Iterator[int]:
    """A keep-alive HTTP server on 127.0.0.1 (the far end of the tunnel; stands for the agent)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _profile(root: Path, sshd: sshd_helper.Sshd) -> Path:
    from test_deploy_ssh import write_profile

    return write_profile(root, "tunnelboard", sshd, root / "agent-home", known_hosts=sshd.known_hosts)


def test_many_tunnel_cycles_close_quietly(sshd: sshd_helper.Sshd, http_server: int, tmp_path: Path,
                                          thread_errors: list) -> None:
    from testbed import profiles
    from testbed.transports.ssh import SshTransport
    from testbed.transports.tunnel import Tunnel

    profile = profiles.load(str(_profile(tmp_path, sshd)))
    for cycle in range(30):
        transport = SshTransport(profile)
        transport.connect(retries=1)
        tunnel = Tunnel(transport.ssh.get_transport(), http_server)  # type: ignore[arg-type]
        session = requests.Session()
        for _ in range(2):  # keep-alive: the forwarded connection stays open after the answer
            assert session.get(f"http://127.0.0.1:{tunnel.local_port}/", timeout=10).json() == {"ok": True}
        if cycle % 2:
            session.close()  # the client's end goes first (AgentClient.close), racing the shutdown
        # SshTransport.close's order: tunnel, then SFTP and SSH
        tunnel.close()
        transport.ssh.close()
        session.close()
    assert not thread_errors, [f"{e.exc_type.__name__}: {e.exc_value}" for e in thread_errors]
    # the ordering: close() returned only after every serving thread had closed its channel (while
    # the SSH connection was still up), so none is left to race the connection's close
    assert not [t for t in threading.enumerate() if t.name.startswith("ssh-tunnel")]


def test_tunnel_closes_quietly_after_the_connection_dropped(sshd: sshd_helper.Sshd, http_server: int,
                                                           tmp_path: Path, thread_errors: list) -> None:
    """The board went away first (SSH connection closed under open channels): still no traceback."""
    from testbed import profiles
    from testbed.transports.ssh import SshTransport
    from testbed.transports.tunnel import Tunnel

    profile = profiles.load(str(_profile(tmp_path, sshd)))
    for _ in range(10):
        transport = SshTransport(profile)
        transport.connect(retries=1)
        tunnel = Tunnel(transport.ssh.get_transport(), http_server)  # type: ignore[arg-type]
        session = requests.Session()
        session.get(f"http://127.0.0.1:{tunnel.local_port}/", timeout=10)
        transport.ssh.close()  # the wrong order on purpose
        tunnel.close()
        session.close()
    assert not thread_errors, [f"{e.exc_type.__name__}: {e.exc_value}" for e in thread_errors]


def test_devices_live_prints_no_traceback(sshd: sshd_helper.Sshd, tmp_path: Path) -> None:
    """`testbed devices --live` against a real agent started over SSH, repeated: clean every time."""
    from test_deploy_ssh import write_profile

    profiles_dir = tmp_path / "profiles"
    profiles_dir.mkdir()
    agent_home = tmp_path / "agent-home"
    prof = write_profile(profiles_dir, "liveboard", sshd, agent_home, known_hosts=sshd.known_hosts)
    env = {"TESTBED_PROFILES": str(profiles_dir)}
    try:
        started = run("agent", "start", "--device", str(prof), env=env, timeout=120)
        assert started.returncode == 0, started.stderr[-2000:]
        for _ in range(10):
            proc = run("devices", "--live", "liveboard", env=env, timeout=120)
            assert proc.returncode == 0, proc.stderr[-2000:]
            assert "Traceback" not in proc.stderr and "EOFError" not in proc.stderr, proc.stderr[-3000:]
            line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("liveboard"))
            assert " yes " in line, line  # reachable, and the agent answers through the tunnel
    finally:
        sshd_helper.stop_agent(agent_home)
    assert os.path.exists(agent_home / "token")
