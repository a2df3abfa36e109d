"""An emulated aarch64 board: ``qemu-system-aarch64 -M virt -cpu cortex-a72`` inside a lab namespace.

The VM boots the cached Debian arm64 image (``arm64_image``) through a per-board copy-on-write
overlay (qcow2 backed by the read-only image), plus a small seed disk with the board's hostname,
SSH host key and the lab's client key. Its network is QEMU's user-mode stack with ``restrict=on``
(the guest reaches nothing: no host, no outside) and one forward: the namespace's board address,
port 22, to the guest's sshd. So the host sees the board exactly like a native lab board — an
address in the test range with a real sshd, host-key checked — and cutting the namespace's link
(``ip -n NS link set eth0 down``) takes the board off the network the same way.

There is no hardware acceleration (TCG: x86_64 emulating aarch64): timings on such a board are
emulated and labelled so (``emulated:`` in its profile, shown with every result).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError
from .arm64_image import Image
from .net import LabError

BOOT_TIMEOUT_S = float(os.environ.get("TESTBED_ARM64_BOOT_TIMEOUT_S", "600"))
MEMORY_MB = 2048
DISK_GB = 8  # each board's disk (sparse overlay): room for artifacts and stores, like an SD card
CPUS = 2
EMULATED = "qemu-system-aarch64 -M virt -cpu cortex-a72, software emulation (TCG) on {host}"


def check_tools() -> None:
    missing = [t for t in ("qemu-system-aarch64", "qemu-img", "mkfs.ext4") if not shutil.which(t)]
    if missing:
        raise ConfigError(f"--arch arm64 needs {', '.join(missing)}: apt-get install qemu-system-arm "
                          "qemu-utils e2fsprogs (or bash scripts/install-system-deps.sh --arm64)")


def write_seed(bdir: Path, hostname: str, host_key: Path, authorized_keys: Path) -> Path:
    """A small ext4 disk (LABEL=tbseed) with the board's hostname and keys, made without mounting."""
    seed = bdir / "seed"
    shutil.rmtree(seed, ignore_errors=True)
    seed.mkdir(parents=True)
    (seed / "hostname").write_text(hostname + "\n")
    shutil.copy2(host_key, seed / "ssh_host_ed25519_key")
    shutil.copy2(host_key.with_suffix(".pub"), seed / "ssh_host_ed25519_key.pub")
    shutil.copy2(authorized_keys, seed / "authorized_keys")
    img = bdir / "seed.img"
    img.unlink(missing_ok=True)
    _check(["mkfs.ext4", "-q", "-F", "-L", "tbseed", "-d", str(seed), str(img), "8M"], "mkfs.ext4 (seed disk)")
    return img


def write_overlay(bdir: Path, image: Image) -> Path:
    """The board's own disk: copy-on-write over the shared image (which stays untouched)."""
    overlay = bdir / "disk.qcow2"
    overlay.unlink(missing_ok=True)
    _check(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(image.rootfs), "-F", "raw", str(overlay),
            f"{DISK_GB}G"], "qemu-img create")
    return overlay


def command(image: Image, overlay: Path, seed: Path, board_ip: str, bdir: Path) -> list[str]:
    return [
        shutil.which("qemu-system-aarch64") or "qemu-system-aarch64",
        "-M", "virt", "-cpu", "cortex-a72", "-smp", str(CPUS), "-m", str(MEMORY_MB),
        "-kernel", str(image.kernel), "-initrd", str(image.initrd),
        "-append", "root=LABEL=tbroot rw console=ttyAMA0 systemd.show_status=1",
        "-drive", f"if=none,id=root,file={overlay},format=qcow2", "-device", "virtio-blk-pci,drive=root",
        "-drive", f"if=none,id=seed,file={seed},format=raw,readonly=on", "-device", "virtio-blk-pci,drive=seed",
        "-netdev", f"user,id=net0,restrict=on,hostfwd=tcp:{board_ip}:22-:22",
        "-device", "virtio-net-pci,netdev=net0,romfile=",  # no option ROM: no ipxe-qemu needed
        "-display", "none", "-monitor", "none", "-serial", f"file:{bdir / 'console.log'}",
        "-no-reboot",
    ]


def start(netns: str, cmd: list[str], bdir: Path, preexec: Callable[[], None]) -> subprocess.Popen:
    log = open(bdir / "qemu.log", "ab")
    ip_exe = shutil.which("ip") or "/usr/sbin/ip"
    proc = subprocess.Popen([ip_exe, "netns", "exec", netns, *cmd], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec, close_fds=True)
    log.close()
    return proc  # `ip netns exec` execs: this is QEMU's PID


def wait_for_ssh(proc: subprocess.Popen, board_ip: str, bdir: Path, name: str,
                 progress: Callable[[str], None], timeout_s: float = BOOT_TIMEOUT_S) -> float:
    """Wait until the guest's sshd sends its banner (QEMU accepts on the forward before the guest is
    up, so a TCP connect proves nothing). Returns the boot time in seconds."""
    t0 = time.monotonic()
    last = 0.0
    while time.monotonic() - t0 < timeout_s:
        if proc.poll() is not None:
            raise LabError(f"qemu of {name} exited ({proc.returncode}): {_tail(bdir / 'qemu.log')} "
                           f"{_tail(bdir / 'console.log')}")
        if _banner(board_ip):
            return time.monotonic() - t0
        if time.monotonic() - last > 15:
            last = time.monotonic()
            progress(f"{name}: booting aarch64 under emulation ({time.monotonic() - t0:.0f} s)")
        time.sleep(1.0)
    raise LabError(f"{name}: the aarch64 guest's sshd did not answer within {timeout_s:.0f} s "
                   f"(console: {bdir / 'console.log'}: {_tail(bdir / 'console.log')}); raise "
                   "TESTBED_ARM64_BOOT_TIMEOUT_S on a slow machine")


def _banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=2) as s:
            s.settimeout(5)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _tail(path: Path, n: int = 300) -> str:
    try:
        return " ".join(path.read_text(errors="replace")[-n:].split())
    except OSError:
        return ""


def _check(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(f"{what} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
