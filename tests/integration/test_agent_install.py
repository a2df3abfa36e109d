"""`testbed agent install` over a real OpenSSH sshd on 127.0.0.1 (needs no root: the "board" is
this machine, its venv and agent home are temp folders), and the agent wheel it sends.
The virtual-lab tests (test_lab.py) do the same on boards in their own network namespaces."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from helpers import sshd as sshd_helper
from helpers.cli import run

pytestmark = pytest.mark.integration


def test_the_agent_wheel_holds_only_the_agent(tmp_path: Path) -> None:
    from testbed.fleet import wheel

    built = wheel.build(tmp_path / "a")
    names = zipfile.ZipFile(built.path).namelist()
    assert built.path.name == f"testbed-{built.version}-py3-none-any.whl"
    assert all(n.startswith(("testbed_agent/", f"testbed-{built.version}.dist-info/")) for n in names), names
    assert "testbed_agent/cli.py" in names and "testbed_agent/runtimes/__init__.py" in names
    assert not any("__pycache__" in n or n.endswith((".pyc", ".so")) for n in names)
    meta = zipfile.ZipFile(built.path).read(f"testbed-{built.version}.dist-info/METADATA").decode()
    base = [ln for ln in meta.splitlines() if ln.startswith("Requires-Dist:") and "extra ==" not in ln]
    assert base and not any(x in ln for ln in base for x in ("torch", "tensorflow", "paramiko", "onnx>="))
    assert 'Requires-Dist: onnxruntime>=1.17; extra == "onnxruntime"' in meta
    assert "Provides-Extra: litert" in meta
    # reproducible: the sha256 says whether a board runs this code
    assert wheel.build(tmp_path / "b").sha256 == built.sha256
    assert not any("torch" in r or "tensorflow" in r for r in built.requirements_for(["litert", "onnxruntime"]))


def test_set_profile_python_keeps_comments(tmp_path: Path) -> None:
    from testbed.fleet.install import _set_profile_python

    prof = tmp_path / "pi.yaml"
    prof.write_text("id: pi  # my board\ntransport: ssh\nssh:\n  host: pi.local\nagent:\n"
                    "  python: python3   # to be replaced\n  port: 8765\nruntimes: [litert]\n")
    _set_profile_python(prof, "/home/pi/testbed-agent/venv/bin/python")
    text = prof.read_text()
    assert "# my board" in text and "# to be replaced" in text
    assert yaml.safe_load(text)["agent"] == {"python": "/home/pi/testbed-agent/venv/bin/python", "port": 8765}
    bare = tmp_path / "pj.yaml"
    bare.write_text("id: pj\ntransport: ssh\nssh:\n  host: pj.local\n")
    _set_profile_python(bare, "/v/bin/python")
    assert yaml.safe_load(bare.read_text())["agent"]["python"] == "/v/bin/python"


def test_local_profile_is_refused() -> None:
    proc = run("agent", "install", "--device", "local")
    assert proc.returncode == 2 and "over SSH" in proc.stderr


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory, testbed_home: Path) -> Iterator[dict]:
    server = sshd_helper.start(tmp_path_factory.mktemp("sshd"))
    root = tmp_path_factory.mktemp("board")
    agent_home = root / "agent-home"
    profile = root / "loopboard.yaml"
    profile.write_text(f"""
id: loopboard
transport: ssh
ssh:
  host: 127.0.0.1
  port: {server.port}
  user: {server.user}
  key_file: {server.client_key}
  known_hosts: {server.known_hosts}
agent:
  python: {root / 'venv' / 'bin' / 'python'}
  port: {sshd_helper.free_port()}
  home: {agent_home}
runtimes: [onnxruntime]
""")
    info = {"profile": profile, "root": root, "agent_home": agent_home, "wheelhouse": testbed_home / "wheelhouse"}
    yield info
    sshd_helper.stop_agent(agent_home)
    server.stop()


def install(board: dict, *extra: str) -> dict:
    proc = run("agent", "install", "--device", str(board["profile"]), "--wheelhouse", str(board["wheelhouse"]),
               "--json", *extra)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_install_then_again_then_upgrade(board: dict) -> None:
    first = install(board)
    assert first["actions"][0] == f"created venv {board['root'] / 'venv'}"
    assert first["runtimes"]["onnxruntime"]["available"] and first["service"] == "process"
    assert "ai-edge-litert" not in first["packages"]  # only the profile's runtimes
    assert not set(first["packages"]) & {"torch", "tensorflow", "tensorflow-cpu"}
    health_pid = first["agent_pid"]
    assert json.loads((board["agent_home"] / "agent.json").read_text())["pid"] == health_pid
    assert json.loads((board["agent_home"] / "install.json").read_text())["version"] == first["version"]

    sha = json.loads((board["agent_home"] / "install.json").read_text())["wheel_sha256"]
    again = install(board)
    from testbed.fleet import wheel

    if wheel.build(board["root"] / "check-wheel").sha256 == sha:
        assert again["actions"] == [] and again["agent_pid"] == health_pid
    else:  # someone edited device_agent/ meanwhile (shared checkout): a reinstall is right
        assert f"reinstalled agent {first['version']} (its code changed)" in again["actions"]

    # an older agent on the board (its own files say 0.0.1, and it runs): upgraded and restarted
    site = next((board["root"] / "venv" / "lib").glob("python3*/site-packages"))
    init = site / "testbed_agent" / "__init__.py"
    init.write_text(init.read_text().replace(f'__version__ = "{first["version"]}"', '__version__ = "0.0.1"'))
    assert run("agent", "restart", "--device", str(board["profile"])).returncode == 0
    old = json.loads((board["agent_home"] / "agent.json").read_text())
    assert old["version"] == "0.0.1"
    upgraded = install(board)
    assert f"upgraded agent 0.0.1 -> {first['version']}" in upgraded["actions"]
    assert any(a.startswith("stopped agent 0.0.1") for a in upgraded["actions"])
    assert upgraded["agent_pid"] != old["pid"]
    assert json.loads((board["agent_home"] / "agent.json").read_text())["version"] == first["version"]


def test_agent_start_stop_status(board: dict) -> None:
    dev = str(board["profile"])
    assert run("agent", "status", "--device", dev).returncode == 0
    assert "stopped" in run("agent", "stop", "--device", dev).stdout
    status = run("agent", "status", "--device", dev)
    assert status.returncode == 1 and "not running" in status.stdout
    started = run("agent", "start", "--device", dev)
    assert started.returncode == 0 and "started" in started.stdout


def test_systemd_asked_where_there_is_none(board: dict) -> None:
    proc = run("agent", "install", "--device", str(board["profile"]), "--wheelhouse", str(board["wheelhouse"]),
               "--service", "systemd")
    assert proc.returncode == 2 and "systemd does not run" in proc.stderr


def test_profile_wheelhouse_and_what_really_runs_the_agent(board: dict) -> None:
    """Issue 11: a board whose profile names its wheelhouse installs with the plain command (the
    lab's boards reach no index), and the summary says how the agent really runs: no systemd here,
    so a background process - not "systemd unit file: ..."."""
    (board["root"] / "offline").mkdir(exist_ok=True)
    offline = board["root"] / "offline" / "loopboard.yaml"  # a profile file is named by its id
    offline.write_text(board["profile"].read_text().replace(
        "agent:\n", f"agent:\n  wheelhouse: {board['wheelhouse']}\n", 1))
    first = run("agent", "install", "--device", str(offline), "--json", "--no-profile-update")
    assert first.returncode == 0, first.stderr[-2000:]
    report = json.loads(first.stdout)
    assert report["wheelhouse"] == str(board["wheelhouse"].resolve())
    assert report["service"] == "process" and report["unit_path"] == ""
    assert report["service_note"] == "no systemd on the board"
    proc = run("agent", "install", "--device", str(offline), "--no-profile-update")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "runs as a background process (no systemd on the board)" in proc.stdout
    assert "systemd unit file" not in proc.stdout and "enabled" not in proc.stdout
    # doctor's fix for this board is the command that works offline
    from testbed import profiles
    from testbed.fleet.install import install_command

    assert install_command(profiles.load(str(offline))) == (
        f"testbed agent install --device loopboard --wheelhouse {board['wheelhouse'].resolve()}")
