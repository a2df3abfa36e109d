"""Helpers for tests with virtual boards (`testbed lab`): skip reasons, leftovers, a board shell.

Network safety: everything lives in 198.18.0.0/15 behind the lab's ``unreachable`` route (see
host/testbed/lab/net.py); a board is taken off the network only from inside its namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

LAB_REASON_ENV = "TESTBED_SKIP_LAB"


def skip_reason() -> str | None:
    """Why lab tests cannot run here, or None when they can. Only conditions no install fixes skip:
    not root, ``TESTBED_SKIP_LAB`` set, or no permission for network namespaces. A missing *tool* is a
    failure (:func:`missing_tool`, checked by tests/conftest.py), never a silent skip."""
    if os.environ.get(LAB_REASON_ENV):
        return f"{LAB_REASON_ENV} is set"
    if os.geteuid() != 0:
        return "needs root: network namespaces, veths and routes (CI runs the suite as root)"
    if missing_tool() is None and subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return "`ip netns` does not work here (no permission for network namespaces)"
    return None


def _have(name: str) -> bool:
    return bool(shutil.which(name)) or Path("/usr/sbin", name).exists() or Path("/sbin", name).exists()


def missing_tool(arm64: bool = False) -> str | None:
    """The first tool a lab test needs that this machine lacks, as a message that says how to get it."""
    needs = [("ip", "iproute2"), ("unshare", "util-linux"), ("nsenter", "util-linux"), ("sshd", "openssh-server"),
             ("ssh-keygen", "openssh-client")]
    if arm64:
        needs += [("qemu-system-aarch64", "qemu-system-arm"), ("qemu-img", "qemu-utils")]
    for tool, package in needs:
        if not _have(tool):
            flag = " --arm64" if arm64 else ""
            return (f"no `{tool}` (Debian package {package}): run `bash scripts/install-system-deps.sh{flag}` "
                    "(make test does)")
    return None


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True).stdout


def leftovers(lab_id: str, lab_dir: Path) -> list[str]:
    """Everything of lab ``lab_id`` still on this machine: namespaces, links, routes, processes
    (anything whose command line names the lab folder), cgroups."""
    found = []
    found += [f"netns {line.split()[0]}" for line in _ip("netns", "list").splitlines()
              if line.startswith(f"tb-{lab_id}-")]
    found += [f"link {line.split(':')[1].strip()}" for line in _ip("-o", "link", "show").splitlines()
              if f"tb{lab_id}" in line]
    found += [f"route {line}" for line in _ip("route", "show", "root", "198.18.0.0/15").splitlines()
              if f"tb{lab_id}" in line]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if str(lab_dir) in cmdline and state != "Z":
            found.append(f"process {proc.name}: {cmdline[:120]}")
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpu")):
        if root.is_dir():
            found += [f"cgroup {p}" for p in root.glob(f"testbed-lab-{lab_id}-*")]
    return found


def start_sshd_in_netns(netns: str, workdir: Path, authorized_keys: Path, host_key: Path, port: int,
                        listen: str = "127.0.0.1") -> subprocess.Popen:
    """A second sshd inside a board's namespace (e.g. on its loopback, reachable only through the
    board): killed by PID by the caller, and by `lab down` with everything in the namespace."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", f"ListenAddress {listen}", f"HostKey {host_key}",
        f"AuthorizedKeysFile {authorized_keys}", f"PidFile {workdir / 'sshd.pid'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
        "AllowTcpForwarding yes", "Subsystem sftp internal-sftp", "LogLevel VERBOSE", "",
    ]))
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    log = open(workdir / "sshd.log", "wb")
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sshd, "-D", "-e", "-f", str(config)],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def wait_listening(netns: str, address: str, port: int, timeout_s: float = 10) -> None:
    """Wait until something listens on address:port inside ``netns``."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run(["ip", "netns", "exec", netns, "ss", "-Hltn", f"sport = :{port}"],
                             capture_output=True, text=True).stdout
        if f"{address}:{port}" in out:
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {address}:{port} in {netns}")
