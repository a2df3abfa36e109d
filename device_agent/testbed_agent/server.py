"""Serve the agent with waitress: bind, announce the ready line, run until SIGTERM/SIGINT.

The ready line ``testbed-agent listening on http://HOST:PORT`` is the only thing the agent
prints to stdout; the host waits for it. With ``--state-file`` the same facts are written as
JSON (atomically) and the file is removed again on a clean shutdown.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from waitress import create_server

from . import __version__
from .app import create_app
from .config import AgentConfig
from .errors import ConfigError
from .manager import RunManager
from .runs import RunFiles
from .store import ArtifactStore
from .supervisor import WorkerRunner

READY_PREFIX = "testbed-agent listening on "
HTTP_THREADS = 4


class _Stop(SystemExit):
    """Raised by the signal handler to leave waitress's loop.

    A SystemExit subclass on purpose: waitress's dispatcher loop swallows ordinary exceptions
    raised inside its handlers, but lets SystemExit and KeyboardInterrupt through.
    """


def write_state_file(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` as JSON to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, path)


def _remove_state_file(path: Path) -> None:
    """Remove the state file if it still describes this process."""
    try:
        if json.loads(path.read_text("utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _work_dir(store: Path) -> Path:
    """The workers' current directory (runtimes may drop caches or profiles there)."""
    work = store / "work"
    work.mkdir(parents=True, exist_ok=True)
    return work


def serve(config: AgentConfig) -> int:
    """Run the agent until a signal stops it; return the exit status.

    Raises ConfigError when the address cannot be bound.
    """
    store = ArtifactStore(config.store)
    runner = WorkerRunner(cwd=_work_dir(config.store), fork=config.worker_start == "forkserver")
    manager = RunManager(store, RunFiles(config.store), runner)
    app = create_app(token=config.token, store=store, manager=manager,
                     default_timeout_s=config.run_timeout_s, allow_debug=config.allow_debug)
    try:
        server = create_server(app, host=config.host, port=config.port, threads=HTTP_THREADS,
                               ident="testbed-agent", max_request_body_size=1 << 34)
    except OSError as exc:  # address in use, unknown host...
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: "
                          f"{exc.strerror or exc}") from exc
    listen = getattr(server, "effective_listen", None)
    port = int(listen[0][1] if listen else server.effective_port)
    manager.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stop(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if config.state_file:
            write_state_file(config.state_file, {"pid": os.getpid(), "port": port,
                                                 "version": __version__, "host": config.host,
                                                 "store": str(config.store.resolve())})
        sys.stdout.write(f"{READY_PREFIX}http://{config.host}:{port}\n")
        sys.stdout.flush()
        server.run()
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        manager.shutdown()
        server.close()
        if config.state_file:
            _remove_state_file(config.state_file)
    return 0
