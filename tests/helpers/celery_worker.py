"""`testbed worker` for the Celery tests: started in its own session (so SIGKILL takes the whole worker:
its per-board processes, their pool processes and the boards' local agents), optionally inside a
network namespace (a lab host: ``ip netns exec NS testbed worker ...``), its lines read as they come.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading

from helpers.cli import TESTBED
from helpers.nightly import agent_processes, kill_group, wait_for


class Worker:
    def __init__(self, env: dict[str, str], boards: str | list[str] = "celery-local", netns: str | None = None,
                 args: tuple[str, ...] = (), wait_s: float = 180, select: str | None = None) -> None:
        """``boards``: the boards it must say it serves; ``select``: its ``--boards`` value (default: those)."""
        self.lines: list[str] = []
        self.boards = [boards] if isinstance(boards, str) else list(boards)
        self.netns = netns
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen([*prefix, TESTBED, "worker", "--boards",
                                      select or ",".join(self.boards), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **env}, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            wait_for(lambda: self.serving() or self._dead(), wait_s,
                     f"the worker's 'serving board ...' line for {', '.join(self.boards)}", poll=0.2)
        except AssertionError as exc:
            self.kill()
            raise AssertionError(f"{exc}; the worker said:\n{self.log()}") from None
        assert not self._dead(), f"the worker exited {self.proc.returncode}:\n{self.log()}"
        for board in self.boards:  # its check of each board
            assert any(line.startswith(f"board {board}: ") for line in self.lines), self.log()

    def serving(self) -> bool:
        return all(any(line.startswith(f"serving board {b} ") for line in self.lines) for b in self.boards)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def _dead(self) -> bool:
        return self.proc.poll() is not None

    def log(self) -> str:
        return "\n".join(self.lines[-80:])

    def kill(self) -> None:
        """SIGKILL: the worker, its pool processes and the boards' local agents (their own process groups)."""
        agents = agent_processes(self.proc.pid)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for agent in agents:
            kill_group(agent)
        self.proc.wait(30)

    def stop(self) -> None:
        if self._dead():
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass
