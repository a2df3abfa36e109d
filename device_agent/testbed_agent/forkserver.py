"""Fork servers: one process per runtime with the runtime already imported, forking a fresh
worker process for every measurement.

Why: a worker started as ``python -m testbed_agent.worker`` spends most of its life importing
(numpy, psutil, then the runtime: ExecuTorch's Python runtime imports torch, 15 s on a loaded
2-core machine) before a measurement that may take a tenth of a second. A fork server imports
once; each measurement still runs in its own process, forked from the server, so the isolation
stays: its own address space (a crash, a leak or a memory limit stays in it), CPU affinity and
limits applied in it, its own session (a timeout kills its process group), a fresh copy of the
server's state. The server never loads a model or runs an inference, and collects and freezes its
garbage before serving, so every worker starts from the same state: what ran before cannot show
in a worker's figures. The worker measures its own memory baseline after the fork (``measure``).

Protocol, on a Unix socket the agent passes as file descriptor FD
(``python -m testbed_agent.forkserver RUNTIME FD``):

    server -> agent   b"ready <empty_rss_bytes> <import_ns> <error or ->\\n"   (once, after importing)
    agent  -> server  b"run" with 3 fds (SCM_RIGHTS): the worker's stdin, stdout, stderr
    server -> agent   b"pid <pid>\\n"                   (the forked worker)
    server -> agent   b"exit <pid> <returncode>\\n"     (Popen's convention: -N = killed by signal N)

The worker is ``worker.main()`` with those three fds as 0, 1 and 2: the same protocol as an
exec'd worker. One worker at a time (the agent runs one at a time); the server exits when the
socket closes (the agent closed it, or died).

Memory: a forked process's RSS counts the anonymous pages it shares with the server, but not the
file-backed pages (shared libraries' code and data read at import) until it touches them; an
exec'd worker has them resident after its imports. Left so, the first touch of the runtime's code
while loading a model would be charged to the model (+6 MB for ONNX Runtime on digits_cnn). So
the server notes which pages of its file mappings are resident (``/proc/self/pagemap``) and each
worker reads one byte of each of them before measuring anything: its baseline is then the worker
with the runtime imported, as for an exec'd worker.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

#: How long a fork server may take to import its runtime before the agent gives up on it.
READY_TIMEOUT_S = 300.0


class ForkServerError(Exception):
    """The fork server could not be started, or stopped answering."""


class ForkServer:
    """The agent's handle on one fork server (one runtime). Not thread-safe: the agent's single
    executor thread uses it; ``kill_worker`` may come from another thread."""

    def __init__(self, runtime: str, python: str, cwd: Path | None, env: dict[str, str],
                 ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        self.runtime = runtime
        started = time.monotonic()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "testbed_agent.forkserver", runtime, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=2, cwd=cwd, env=env,
                start_new_session=True)
        except OSError as exc:
            ours.close()
            raise ForkServerError(f"cannot start the fork server: {exc}") from exc
        finally:
            theirs.close()
        self.sock = ours
        self._buf = b""
        self.worker_pid: int | None = None
        try:
            fields = self._line(started + ready_timeout_s).split(" ", 3)
            if fields[0] != "ready" or len(fields) != 4:
                raise ForkServerError(f"unexpected first line from the fork server: {fields!r:.80}")
        except ForkServerError:
            self.close()
            raise
        self.empty_rss_bytes = int(fields[1])
        self.import_s = int(fields[2]) / 1e9
        self.import_error = None if fields[3] == "-" else fields[3]
        self.start_s = time.monotonic() - started
        self.last_used = time.monotonic()

    def _line(self, deadline: float) -> str:
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ForkServerError("the fork server did not answer in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError as exc:
                raise ForkServerError(f"the fork server's socket failed: {exc}") from exc
            if not chunk:
                code = self.proc.poll()
                raise ForkServerError("the fork server exited" + (
                    f" ({code})" if code is not None else ""))
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode(errors="replace")

    def spawn(self) -> tuple[int, int, int, int]:
        """Fork a worker; ``(pid, its stdin to write, its stdout and stderr to read)``."""
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            socket.send_fds(self.sock, [b"run"], [in_r, out_w, err_w])
            fields = self._line(time.monotonic() + 30).split()
            if len(fields) != 2 or fields[0] != "pid":
                raise ForkServerError(f"unexpected answer from the fork server: {fields!r:.80}")
        except (OSError, ForkServerError) as exc:
            for f in (in_w, out_r, err_r):
                os.close(f)
            raise ForkServerError(str(exc)) from exc
        finally:
            for f in (in_r, out_w, err_w):
                os.close(f)
        self.worker_pid = int(fields[1])
        self.last_used = time.monotonic()
        return self.worker_pid, in_w, out_r, err_r

    def wait_exit(self, deadline: float) -> int:
        """The worker's return code (``-N``: killed by signal N), once the server has reaped it."""
        fields = self._line(deadline).split()
        if len(fields) != 3 or fields[0] != "exit":
            raise ForkServerError(f"unexpected answer from the fork server: {fields!r:.80}")
        self.worker_pid = None
        self.last_used = time.monotonic()
        return int(fields[2])

    def kill_worker(self) -> None:
        """SIGKILL the running worker's process group (it is its own session leader)."""
        pid = self.worker_pid
        if pid is not None:
            for kill in (os.killpg, os.kill):  # the pid too: it may not have called setsid() yet
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, timeout_s: float = 5.0) -> None:
        """Close the socket (the server exits on EOF); kill it if it does not."""
        self.kill_worker()
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


def serve(runtime_name: str, fd: int) -> int:
    """The server's main loop (in the fork server process)."""
    sock = socket.socket(fileno=fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    from . import measure
    from .errors import first_line
    from .runtimes import get as get_runtime

    empty = measure.rss_bytes()
    start = time.perf_counter_ns()
    error = "-"
    runtime = get_runtime(runtime_name)
    if not hasattr(runtime, "measure"):  # a native runner imports nothing worth keeping
        try:
            runtime.prepare()
        except Exception as exc:  # the worker imports again and fails its run with the stage error
            error = first_line(exc).replace("\n", " ")
    import_ns = time.perf_counter_ns() - start
    resident = resident_file_ranges()
    gc.collect()
    gc.freeze()  # no copy-on-write of the server's objects by the workers' collections
    sys.stdout.flush()
    sys.stderr.flush()
    sock.sendall(f"ready {empty} {import_ns} {error}\n".encode())
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 64, 3)
        except OSError:
            break
        if not msg:
            break
        if len(fds) != 3:
            for f in fds:
                os.close(f)
            continue
        pid = os.fork()
        if pid == 0:
            _child(sock, fds, runtime_name, empty, import_ns, resident)
        for f in fds:
            os.close(f)
        sock.sendall(f"pid {pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        try:
            sock.sendall(f"exit {pid} {os.waitstatus_to_exitcode(status)}\n".encode())
        except OSError:
            break
    return 0


def resident_file_ranges() -> list[tuple[int, int]]:
    """``(start, end)`` address ranges of the pages of this process's readable file mappings
    (libraries, mapped files; not /dev) that are resident now; empty where /proc says nothing."""
    import numpy as np

    page = os.sysconf("SC_PAGE_SIZE")
    ranges: list[tuple[int, int]] = []
    try:
        with open("/proc/self/maps") as maps, open("/proc/self/pagemap", "rb") as pagemap:
            for line in maps:
                parts = line.split(maxsplit=5)
                path = parts[5].strip() if len(parts) == 6 else ""
                if "r" not in parts[1] or not path.startswith("/") or path.startswith("/dev/"):
                    continue
                start, end = (int(x, 16) for x in parts[0].split("-"))
                pagemap.seek(start // page * 8)
                entries = np.frombuffer(pagemap.read((end - start) // page * 8), dtype=np.uint64)
                present = (entries >> np.uint64(63)).astype(bool)
                edges = np.flatnonzero(np.diff(np.concatenate(([False], present, [False]))))
                ranges += [(start + int(a) * page, start + int(b) * page)
                           for a, b in zip(edges[::2], edges[1::2], strict=True)]
    except (OSError, ValueError):
        return []
    return ranges


def touch(ranges: list[tuple[int, int]]) -> None:
    """Read one byte of every page in ``ranges`` (maps them into this process: see the module
    docstring)."""
    import ctypes

    page = os.sysconf("SC_PAGE_SIZE")
    for start, end in ranges:
        view = memoryview((ctypes.c_ubyte * (end - start)).from_address(start)).cast("B")
        bytes(view[::page])


def _child(sock: socket.socket, fds: list[int], runtime: str, empty: int, import_ns: int,
           resident: list[tuple[int, int]]) -> None:
    """In the forked worker: its own session, the three fds as stdin/stdout/stderr, the server's
    resident file pages mapped, then the worker's main. Never returns."""
    code = 1
    try:
        entered = time.monotonic_ns()
        os.setsid()
        sock.close()
        touch(resident)
        for target, f in enumerate(fds):
            os.dup2(f, target)
        for f in fds:
            if f > 2:
                os.close(f)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        from .worker import main

        code = main({"start": "forkserver", "entered_monotonic_ns": entered,
                     "server_empty_rss_bytes": empty, "server_import_s": import_ns / 1e9})
    except BaseException:  # anything: say it on stderr, exit non-zero
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m testbed_agent.forkserver RUNTIME FD", file=sys.stderr)
        return 2
    return serve(args[0], int(args[1]))


if __name__ == "__main__":
    sys.exit(main())
