"""The aarch64 board image for `testbed lab up --arch arm64`: built once, cached, shared by every board.

Debian's own arm64 kernel and a ``debootstrap --arch=arm64`` root filesystem (its maintainer scripts
run under ``qemu-aarch64`` through binfmt_misc), with only what a bare board has: systemd, OpenSSH,
Python 3 with venv. No testbed code is baked in: `testbed agent install` puts the agent on it, as on
a real Pi. Per-board things (hostname, host key, authorized key) come from a small seed disk at boot
(``testbed-seed.service``), so one cached image serves every board and every lab.

Cache: ``~/.cache/testbed/lab-arm64/<suite>-<recipe hash>/`` (``$TESTBED_ARM64_CACHE`` overrides;
outside ``$TESTBED_HOME`` on purpose, so a throw-away home reuses it) holding ``vmlinuz``, ``initrd.img``,
``rootfs.ext4`` and ``recipe.json``; a change to the recipe below builds a new one. The build log is
``build.log`` beside it. Building needs root, network access to a Debian mirror (the package
registry) and takes several minutes on two cores; booting the cached image takes well under that.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..filelock import exclusive
from .net import LabError

Progress = Callable[[str], None]
SUITE = "bookworm"  # Debian 12: Python 3.11, like a Raspberry Pi OS / Jetson board of today
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ["systemd-sysv", "udev", "kmod", "initramfs-tools", "openssh-server",
            "python3", "python3-venv", "iproute2", "procps", "netbase", "e2fsprogs"]
KERNEL = "linux-image-arm64"  # installed after the initramfs is set to the few modules a virt board needs
ROOTFS_MB = 3072  # sparse; each board's overlay is larger (vm.DISK_GB) and the guest grows / into it
RECIPE_VERSION = 2  # bump when the configuration below changes

# Per-board settings from the seed disk (LABEL=tbseed), before sshd starts.
SEED_SCRIPT = """#!/bin/sh
# testbed lab: take this board's hostname, SSH host key and authorized key from the seed disk.
set -e
mkdir -p /run/tbseed
mount -o ro LABEL=tbseed /run/tbseed
hostname "$(cat /run/tbseed/hostname)"
cp /run/tbseed/hostname /etc/hostname
printf '127.0.1.1 %s\\n' "$(cat /run/tbseed/hostname)" >> /etc/hosts
install -m 600 /run/tbseed/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key
install -m 644 /run/tbseed/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ed25519_key.pub
install -d -m 700 /root/.ssh
install -m 600 /run/tbseed/authorized_keys /root/.ssh/authorized_keys
umount /run/tbseed
# the board's disk (a qcow2 overlay) may be larger than the image: grow / to fill it
resize2fs "$(findmnt -no SOURCE /)" >/dev/null 2>&1 || true
"""

SEED_UNIT = """[Unit]
Description=testbed lab: per-board hostname and SSH keys from the seed disk
DefaultDependencies=no
After=local-fs.target systemd-udev-settle.service
Wants=systemd-udev-settle.service
Before=ssh.service network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/testbed-seed
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
"""

# QEMU's user-mode network (slirp): the guest is 10.0.2.15, static, so no DHCP wait at boot. The
# gateway is needed although the guest reaches nothing (restrict=on): a forwarded connection arrives
# from the real client's address (the lab host, 198.18.x.y), and the guest's answers go via 10.0.2.2.
NETWORK = """[Match]
Name=e*

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
"""

SSHD_CONFIG = """# testbed lab board: keys only, one host key (from the seed disk).
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
"""

# MODULES=list: only these (and what they depend on) in the initramfs. Debian's default (most) copies
# hundreds of drivers, one emulated process each: minutes of the build for nothing on a virt board.
INITRAMFS_MODULES = ["virtio_pci", "virtio_blk", "virtio_net", "virtio_mmio", "ext4"]

# Units a bare board does not need at boot under emulation (each costs seconds of TCG time).
MASKED = ["apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service",
          "fstrim.timer", "systemd-timesyncd.service", "man-db.timer", "dpkg-db-backup.timer"]


@dataclass
class Image:
    dir: Path
    kernel: Path
    initrd: Path
    rootfs: Path
    recipe: dict


def recipe(mirror: str) -> dict:
    return {"suite": SUITE, "arch": "arm64", "packages": PACKAGES, "kernel": KERNEL, "mirror": mirror,
            "rootfs_mb": ROOTFS_MB,
            "version": RECIPE_VERSION, "seed": SEED_SCRIPT, "unit": SEED_UNIT, "network": NETWORK,
            "sshd": SSHD_CONFIG, "modules": INITRAMFS_MODULES, "masked": MASKED}


def cache_root() -> Path:
    if os.environ.get("TESTBED_ARM64_CACHE"):
        return Path(os.environ["TESTBED_ARM64_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "testbed" / "lab-arm64"


def image_dir(mirror: str) -> Path:
    digest = hashlib.sha256(json.dumps(recipe(mirror), sort_keys=True).encode()).hexdigest()[:12]
    return cache_root() / f"{SUITE}-{digest}"


def mirror_default() -> str:
    return os.environ.get("TESTBED_DEBIAN_MIRROR") or DEFAULT_MIRROR


def cached(mirror: str | None = None) -> Image | None:
    d = image_dir(mirror or mirror_default())
    paths = [d / "vmlinuz", d / "initrd.img", d / "rootfs.ext4", d / "recipe.json"]
    if not all(p.is_file() for p in paths):
        return None
    return Image(dir=d, kernel=paths[0], initrd=paths[1], rootfs=paths[2], recipe=json.loads(paths[3].read_text()))


def ensure(mirror: str | None = None, progress: Progress = lambda m: None) -> Image:
    """The cached image, built first when there is none for this recipe."""
    mirror = mirror or mirror_default()
    image = cached(mirror)
    if image is not None:
        return image
    check_build_tools()
    with exclusive(cache_root() / ".build.lock"):  # two labs starting at once build it once
        return cached(mirror) or _build(mirror, progress)


def _build(mirror: str, progress: Progress) -> Image:
    final = image_dir(mirror)
    work = final.with_name(final.name + ".partial")
    _unmount_under(work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = work / "build.log"
    rootfs = work / "rootfs"
    progress(f"arm64 image: debootstrap {SUITE} arm64 from {mirror} (once; several minutes; log {work}/build.log)")
    try:
        _run(["debootstrap", "--arch=arm64", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
              str(rootfs), mirror], log, "debootstrap", timeout=3600)
        progress(f"arm64 image: configuring (seed service, network, sshd) and installing {KERNEL}")
        _mount_api(rootfs)
        _configure(rootfs, log)
    finally:
        _unmount_under(work)
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    initrds = sorted((rootfs / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise LabError(f"arm64 image: no kernel or initrd in {rootfs}/boot after debootstrap (see {log})")
    shutil.copy2(kernels[-1], work / "vmlinuz")
    shutil.copy2(initrds[-1], work / "initrd.img")
    progress("arm64 image: writing the root filesystem (mkfs.ext4 -d)")
    _run(["mkfs.ext4", "-q", "-F", "-L", "tbroot", "-d", str(rootfs), str(work / "rootfs.ext4"), f"{ROOTFS_MB}M"],
         log, "mkfs.ext4", timeout=1200)
    shutil.rmtree(rootfs)
    (work / "recipe.json").write_text(json.dumps({**recipe(mirror), "kernel_file": kernels[-1].name}, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    for old in final.parent.glob(f"{SUITE}-*"):  # images of older recipes: nothing boots them any more
        if old != final and not old.name.endswith(".partial") and (old / "recipe.json").is_file():
            shutil.rmtree(old, ignore_errors=True)
    image = cached(mirror)
    assert image is not None
    return image


def check_build_tools() -> None:
    if os.geteuid() != 0:
        raise ConfigError("building the arm64 board image needs root (debootstrap, chroot)")
    missing = [t for t in ("debootstrap", "mkfs.ext4", "chroot") if not shutil.which(t)]
    if missing:
        raise ConfigError(f"building the arm64 image needs {', '.join(missing)}: "
                          "apt-get install debootstrap e2fsprogs (or bash scripts/install-system-deps.sh --arm64)")
    ensure_binfmt()


def ensure_binfmt() -> None:
    """aarch64 binaries must run here (debootstrap's second stage): qemu-user-static via binfmt_misc."""
    handler = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if handler.exists() and handler.read_text().startswith("enabled"):
        return
    if not Path("/proc/sys/fs/binfmt_misc/register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"],
                       capture_output=True)
    if shutil.which("update-binfmts"):
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True)
    if not (handler.exists() and handler.read_text().startswith("enabled")):
        raise ConfigError("aarch64 programs cannot run on this machine (no qemu-aarch64 binfmt_misc handler): "
                          "apt-get install qemu-user-static binfmt-support, and mount binfmt_misc "
                          "(mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc)")


def _configure(rootfs: Path, log: Path) -> None:
    sbin = rootfs / "usr/local/sbin"
    sbin.mkdir(parents=True, exist_ok=True)
    (sbin / "testbed-seed").write_text(SEED_SCRIPT)
    os.chmod(sbin / "testbed-seed", 0o755)
    (rootfs / "etc/systemd/system/testbed-seed.service").write_text(SEED_UNIT)
    (rootfs / "etc/systemd/network").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/systemd/network/10-slirp.network").write_text(NETWORK)
    (rootfs / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/ssh/sshd_config.d/testbed.conf").write_text(SSHD_CONFIG)
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # every board gets its own from the seed disk
    (rootfs / "etc/hostname").write_text("testbed-arm64\n")
    (rootfs / "etc/fstab").write_text("LABEL=tbroot / ext4 defaults,noatime 0 1\n")
    (rootfs / "etc/initramfs-tools/conf.d/testbed.conf").write_text("MODULES=list\n")
    with open(rootfs / "etc/initramfs-tools/modules", "a") as f:
        f.write("\n".join(INITRAMFS_MODULES) + "\n")
    _run(["chroot", str(rootfs), "systemctl", "enable", "testbed-seed.service", "systemd-networkd.service"],
         log, "systemctl enable", timeout=300)
    _run(["chroot", str(rootfs), "systemctl", "mask", *MASKED], log, "systemctl mask", timeout=300)
    _run(["chroot", str(rootfs), "apt-get", "install", "-y", "-q", "--no-install-recommends", KERNEL],
         log, f"apt-get install {KERNEL} (in the image)", timeout=1800)
    _run(["chroot", str(rootfs), "apt-get", "clean"], log, "apt-get clean", timeout=300)


def _mount_api(rootfs: Path) -> None:
    """/proc and /sys in the chroot for the kernel's maintainer scripts (never a bind of /dev)."""
    for fstype, where in (("proc", "proc"), ("sysfs", "sys")):
        target = rootfs / where
        if not os.path.ismount(target):
            subprocess.run(["mount", "-t", fstype, fstype, str(target)], check=True, capture_output=True)


def _unmount_under(path: Path) -> None:
    """Unmount everything mounted below ``path`` (deepest first) before anything there is removed."""
    prefix = str(path.resolve()) + "/"
    try:
        points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _run(cmd: list[str], log: Path, what: str, timeout: float) -> None:
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        try:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive",
                                                        "LC_ALL": "C"})
        except subprocess.TimeoutExpired:
            raise LabError(f"arm64 image: {what} took longer than {timeout:.0f} s (see {log})") from None
    if proc.returncode != 0:
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-3:]
        raise LabError(f"arm64 image: {what} failed ({proc.returncode}): {' | '.join(tail)} (log {log})")
