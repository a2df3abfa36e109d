"""A board's processes: sshd in its namespace (native boards) or a QEMU guest (arm64), capped and
pinned like the board; stopping them (TERM, then KILL) and telling whether one is alive or listening."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError
from . import arm64_image, cgroup, vm
from .net import LabError
from .state import Board

Progress = Callable[[str], None]
SSHD_START_S = 15.0


def in_board(board: Board) -> Callable[[], None]:
    group, cpus = board.cgroup, board.cpus

    def preexec() -> None:  # runs in the child before exec: cap and pin everything the board runs
        if group:
            cgroup.join(group)
        if cpus:
            os.sched_setaffinity(0, cpus)

    return preexec


def start_vm(image: arm64_image.Image, root: Path, board: Board, progress: Progress) -> None:
    bdir = Path(board.dir)
    bdir.mkdir(parents=True, exist_ok=True)
    host_key = bdir / "host_ed25519"
    if not host_key.exists():
        keygen(host_key)
    seed = vm.write_seed(bdir, board.name, host_key, root / "authorized_keys")
    overlay = vm.write_overlay(bdir, image)
    proc = vm.start(board.netns, vm.command(image, overlay, seed, board.board_ip, bdir), bdir, in_board(board))
    board.vm_pid = proc.pid
    board.boot_s = vm.wait_for_ssh(proc, board.board_ip, bdir, board.name, progress)


def find_sshd() -> str:
    for cand in (shutil.which("sshd"), "/usr/sbin/sshd"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise ConfigError("`testbed lab` needs OpenSSH's sshd: apt-get install openssh-server "
                      "(or bash scripts/install-system-deps.sh)")


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"testbed-lab {path.name}", "-f", str(path)],
                   check=True, capture_output=True)


def start_sshd(sshd: str, root: Path, board: Board) -> None:
    bdir = Path(board.dir)
    bdir.mkdir(parents=True, exist_ok=True)
    Path(board.agent_home).mkdir(exist_ok=True)
    host_key = bdir / "host_ed25519"
    if not host_key.exists():
        keygen(host_key)
    config = bdir / "sshd_config"
    config.write_text("\n".join([
        "Port 22", f"ListenAddress {board.board_ip}", f"HostKey {host_key}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}", f"PidFile {bdir / 'sshd.pid'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no", "PrintMotd no",
        "AllowTcpForwarding yes", "Subsystem sftp internal-sftp", "LogLevel VERBOSE", "",
    ]))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation folder
    log = open(bdir / "sshd.log", "ab")
    ip_exe = shutil.which("ip") or "/usr/sbin/ip"
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    proc = subprocess.Popen(
        [ip_exe, "netns", "exec", board.netns, unshare, "--uts", "--", "sh", "-c",
         'hostname "$1" && exec "$2" -D -e -f "$3"', "sh", board.name, sshd, str(config)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=in_board(board), close_fds=True)
    log.close()
    board.sshd_pid = proc.pid  # ip netns exec, unshare and sh all exec: this is sshd's PID
    deadline = time.monotonic() + SSHD_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (bdir / "sshd.log").read_text(errors="replace")[-400:]
            raise LabError(f"sshd of {board.name} exited ({proc.returncode}): {tail.strip()}")
        if board_listening(board):
            return
        time.sleep(0.1)
    raise LabError(f"sshd of {board.name} did not listen on {board.board_ip}:22 within {SSHD_START_S:.0f} s")


def is_ours(pid: int, board_dir: str) -> bool:
    try:
        return board_dir in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def kill_all(pids: set[int], grace_s: float = 5.0) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if is_alive(p)}
        time.sleep(0.1)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in alive:
        for _ in range(50):
            if not is_alive(pid):
                break
            time.sleep(0.1)


def is_alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own children (lab up in the same process)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def board_listening(board: Board) -> bool:
    """Whether the board's sshd accepts connections on port 22: connecting from here, or for a board
    behind a lab host (unreachable from this namespace) its listening socket in its namespace."""
    if board.lab_host is None:
        return listening(board.board_ip)
    return board.sshd_pid is not None and listens_in(board.sshd_pid, 22)


def listens_in(pid: int, port: int) -> bool:
    """A TCP socket in state LISTEN on ``port`` in the network namespace of process ``pid``
    (``/proc/PID/net/tcp``: local address ``HEX_IP:HEX_PORT``, state ``0A``)."""
    try:
        lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(f[1].endswith(f":{port:04X}") and f[3] == "0A" for f in (line.split() for line in lines))


def listening(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=0.5):
            return True
    except OSError:
        return False
