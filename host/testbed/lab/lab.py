"""`testbed lab up|down|status`: stand-in boards on this machine.

A board is a network namespace with its own 198.18.x.y address, a real OpenSSH ``sshd`` bound to
that address inside it, its own hostname (``unshare --uts``), an optional CPU cap (cgroup) and CPU
pinning, and a profile (``$TESTBED_HOME/lab/profiles/<board>.yaml``) with a known_hosts entry for
its host key and the lab's client key. The agent is put on a board by `testbed agent install`, into
the board's own venv and agent home under the lab folder. Boards share this machine's filesystem;
they cannot reach anything but this host (no default route), so their profiles name a wheelhouse
(``agent.wheelhouse``, ``wheelhouse_dir()``) that `agent install` fills on this host and installs from.

Every PID, name, cgroup and route the lab made is in ``$TESTBED_HOME/lab/state.json``; `lab down`
removes them by PID and by name, and works from a half-built lab too.

``--arch arm64`` boards are emulated aarch64 machines instead (``vm.py``): QEMU runs inside the
board's namespace and forwards the board address's port 22 to the guest's own sshd; the guest has
its own disk, Python and systemd, so `agent install` there is an install on a real aarch64 Debian.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..paths import home
from . import arm64_image, cgroup, net, vm
from .net import LabError

Progress = Callable[[str], None]
AGENT_PORT = 8765
SSHD_START_S = 15.0


@dataclass
class Board:
    name: str  # lab1, lab2, ... (profile id and hostname)
    index: int
    netns: str
    veth: str
    host_ip: str
    board_ip: str
    dir: str
    profile: str
    sshd_pid: int | None = None
    cgroup: str | None = None
    cpu_quota: float | None = None
    cpus: list[int] | None = None
    arch: str = "native"  # native: processes in the namespace; arm64: a QEMU aarch64 guest
    vm_pid: int | None = None  # QEMU's PID (arm64 boards)
    boot_s: float | None = None  # how long the guest took to answer on SSH

    @property
    def emulated(self) -> bool:
        return self.arch == "arm64"

    @property
    def agent_home(self) -> str:  # on the board: the guest's own disk for an emulated board
        return "/root/.testbed-agent" if self.emulated else str(Path(self.dir) / "agent-home")

    @property
    def venv(self) -> str:
        return "/root/testbed-agent/venv" if self.emulated else str(Path(self.dir) / "venv")


@dataclass
class LabState:
    lab_id: str
    subnet: str
    created: float
    arch: str = "native"
    cpu_quota: float | None = None
    pin: bool = False
    added_unreachable_route: bool = False
    boards: list[Board] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> LabState:
        boards = [Board(**b) for b in data.pop("boards", [])]
        return cls(**data, boards=boards)


def lab_dir() -> Path:
    return home() / "lab"


def state_path() -> Path:
    return lab_dir() / "state.json"


def load_state() -> LabState | None:
    path = state_path()
    if not path.is_file():
        return None
    return LabState.from_json(json.loads(path.read_text()))


def save_state(state: LabState) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2))
    tmp.replace(path)


def profiles_dir() -> Path:
    return lab_dir() / "profiles"


# -- up -----------------------------------------------------------------------------------------
def up(boards: int, cpu_quota: float | None = None, pin: bool = False, arch: str = "native",
       progress: Progress = lambda m: None) -> LabState:
    arch = _board_arch(arch)
    if not 1 <= boards <= 63:
        raise ConfigError("--boards must be 1..63")
    if cpu_quota is not None and not 0.01 <= cpu_quota <= (os.cpu_count() or 1):
        raise ConfigError(f"--cpu-quota must be between 0.01 and {os.cpu_count()} CPUs")
    net.check_tools()
    sshd = _find_sshd() if arch == "native" else ""
    if arch == "arm64":
        vm.check_tools()
    existing = load_state()
    if existing is not None:
        if any(b.netns in net.namespaces() for b in existing.boards):
            raise ConfigError(f"a lab is already up ({len(existing.boards)} boards, {state_path()}); "
                              "`testbed lab down` first")
        down(progress=progress)  # a stale state file: clean what it names
    if cpu_quota is not None and cgroup.flavour() is None:
        raise ConfigError("--cpu-quota: this machine has no usable cgroup cpu controller")
    # every cheap check first: the image takes minutes to build the first time (then it is cached)
    image = arm64_image.ensure(progress=progress) if arch == "arm64" else None

    root = lab_dir()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    client_key = root / "client_ed25519"
    if not client_key.exists():
        _keygen(client_key)
    (root / "authorized_keys").write_text(client_key.with_suffix(".pub").read_text())
    os.chmod(root / "authorized_keys", 0o600)
    profiles_dir().mkdir(exist_ok=True)

    with net.locked():
        known = net.namespaces()
        lab_id = secrets.token_hex(2)
        while any(n.startswith(f"tb-{lab_id}-") for n in known):
            lab_id = secrets.token_hex(2)
        added = net.ensure_unreachable_route()  # FIRST, before any namespace exists
        subnet = net.pick_subnet()
        state = LabState(lab_id=lab_id, subnet=str(subnet), created=time.time(), arch=arch,
                         cpu_quota=cpu_quota, pin=pin, added_unreachable_route=added)
        save_state(state)
        try:
            for i in range(1, boards + 1):
                host_ip, board_ip = net.board_addresses(subnet, i)
                name = f"lab{i}"
                board = Board(name=name, index=i, netns=f"tb-{lab_id}-b{i}", veth=f"tb{lab_id}h{i}",
                              host_ip=host_ip, board_ip=board_ip, dir=str(root / "boards" / name),
                              profile=str(profiles_dir() / f"{name}.yaml"), arch=arch)
                state.boards.append(board)
                save_state(state)  # named before it exists: `lab down` finds a half-made board
                progress(f"{name}: namespace {board.netns}, {board_ip}")
                net.add_board(board.netns, board.veth, f"tb{lab_id}p{i}", host_ip, board_ip)
        except BaseException:
            _down_locked(state, progress)
            raise
    try:
        cpus = sorted(os.sched_getaffinity(0))
        for board in state.boards:
            if cpu_quota is not None:
                board.cgroup = cgroup.create(f"testbed-lab-{lab_id}-{board.name}", cpu_quota)
                board.cpu_quota = cpu_quota
            if pin:
                board.cpus = [cpus[(board.index - 1) % len(cpus)]]
            save_state(state)
            if image is not None:
                progress(f"{board.name}: booting an aarch64 guest (qemu, emulated) behind {board.board_ip}:22")
                _start_board_vm(image, root, board, progress)
            else:
                progress(f"{board.name}: starting sshd on {board.board_ip}:22")
                _start_board_sshd(sshd, root, board)
            save_state(state)
        _write_client_files(root, state)
    except BaseException:
        down(progress=progress)
        raise
    return state


def _board_arch(arch: str) -> str:
    """``native`` (this machine's architecture) or ``arm64`` (an emulated aarch64 guest)."""
    machine = platform.machine()
    if arch in ("native", machine) or (arch == "arm64" and machine == "aarch64"):
        return "native"
    if arch in ("arm64", "aarch64"):
        return "arm64"
    raise ConfigError(f"--arch {arch}: unknown; use native (this machine's, {machine}) or arm64 (emulated)")


def _in_board(board: Board) -> Callable[[], None]:
    group, cpus = board.cgroup, board.cpus

    def preexec() -> None:  # runs in the child before exec: cap and pin everything the board runs
        if group:
            cgroup.join(group)
        if cpus:
            os.sched_setaffinity(0, cpus)

    return preexec


def _start_board_vm(image: arm64_image.Image, root: Path, board: Board, progress: Progress) -> None:
    bdir = Path(board.dir)
    bdir.mkdir(parents=True, exist_ok=True)
    host_key = bdir / "host_ed25519"
    if not host_key.exists():
        _keygen(host_key)
    seed = vm.write_seed(bdir, board.name, host_key, root / "authorized_keys")
    overlay = vm.write_overlay(bdir, image)
    proc = vm.start(board.netns, vm.command(image, overlay, seed, board.board_ip, bdir), bdir, _in_board(board))
    board.vm_pid = proc.pid
    board.boot_s = vm.wait_for_ssh(proc, board.board_ip, bdir, board.name, progress)


def _find_sshd() -> str:
    for cand in (shutil.which("sshd"), "/usr/sbin/sshd"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise ConfigError("`testbed lab` needs OpenSSH's sshd: apt-get install openssh-server "
                      "(or bash scripts/install-system-deps.sh)")


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"testbed-lab {path.name}", "-f", str(path)],
                   check=True, capture_output=True)


def _start_board_sshd(sshd: str, root: Path, board: Board) -> None:
    bdir = Path(board.dir)
    bdir.mkdir(parents=True, exist_ok=True)
    Path(board.agent_home).mkdir(exist_ok=True)
    host_key = bdir / "host_ed25519"
    if not host_key.exists():
        _keygen(host_key)
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
        preexec_fn=_in_board(board), close_fds=True)
    log.close()
    board.sshd_pid = proc.pid  # ip netns exec, unshare and sh all exec: this is sshd's PID
    deadline = time.monotonic() + SSHD_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (bdir / "sshd.log").read_text(errors="replace")[-400:]
            raise LabError(f"sshd of {board.name} exited ({proc.returncode}): {tail.strip()}")
        try:
            with socket.create_connection((board.board_ip, 22), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise LabError(f"sshd of {board.name} did not listen on {board.board_ip}:22 within {SSHD_START_S:.0f} s")


def _write_client_files(root: Path, state: LabState) -> None:
    """known_hosts (one line per board), an ssh_config (``ssh -F`` it) and one profile per board."""
    user = getpass.getuser()
    lines, config = [], []
    for b in state.boards:
        pub = (Path(b.dir) / "host_ed25519.pub").read_text().split()
        lines.append(f"{b.board_ip} {pub[0]} {pub[1]}")
        config += [f"Host {b.name}", f"  HostName {b.board_ip}", f"  User {'root' if b.emulated else user}",
                   f"  IdentityFile {root / 'client_ed25519'}", f"  UserKnownHostsFile {root / 'known_hosts'}", ""]
    (root / "known_hosts").write_text("\n".join(lines) + "\n")
    (root / "ssh_config").write_text("\n".join(config))
    for b in state.boards:
        notes = [f"netns {b.netns}", b.board_ip]
        if b.cpu_quota is not None:
            notes.append(f"cpu quota {b.cpu_quota:g}")
        if b.cpus:
            notes.append(f"pinned to cpu {','.join(map(str, b.cpus))}")
        Path(b.profile).write_text(_emulated_profile(state, b, root, notes) if b.emulated else f"""\
# Written by `testbed lab up` (lab {state.lab_id}); removed by `testbed lab down`.
id: {b.name}
description: "virtual lab board {b.index} ({', '.join(notes)})"
arch: {platform.machine()}
transport: ssh
ssh:
  host: {b.board_ip}
  port: 22
  user: {user}
  key_file: {root / 'client_ed25519'}
  known_hosts: {root / 'known_hosts'}
  connect_timeout_s: 5
agent:
  python: {b.venv}/bin/python   # made by `testbed agent install`
  port: {AGENT_PORT}                  # on the board's own loopback (its namespace)
  home: {b.agent_home}
  start_timeout_s: 60
  wheelhouse: {wheelhouse_dir()}   # the board reaches no index: install from this host folder
runtimes: [litert, onnxruntime]
tags: [lab, virtual]
""")


def wheelhouse_dir(arm64: bool = False) -> Path:
    """The host folder `testbed agent install` fills with the lab boards' wheels (profile
    ``agent.wheelhouse``): boards reach nothing but this host, so pip on a board cannot download."""
    return lab_dir().parent / ("wheelhouse-arm64" if arm64 else "wheelhouse")


def _emulated_profile(state: LabState, b: Board, root: Path, notes: list[str]) -> str:
    """An emulated aarch64 board: root on its own Debian, slow (TCG) so generous timeouts and the
    quick preset, and ``emulated:`` so every result from it says its timings are not a board's."""
    emulated = vm.EMULATED.format(host=platform.machine())
    return f"""\
# Written by `testbed lab up --arch arm64` (lab {state.lab_id}); removed by `testbed lab down`.
id: {b.name}
description: "emulated aarch64 lab board {b.index} (Debian {arm64_image.SUITE} arm64, {', '.join(notes)})"
arch: aarch64
emulated: "{emulated}"
transport: ssh
ssh:
  host: {b.board_ip}
  port: 22
  user: root
  key_file: {root / 'client_ed25519'}
  known_hosts: {root / 'known_hosts'}
  connect_timeout_s: 10
agent:
  python: {b.venv}/bin/python   # made by `testbed agent install` (aarch64 wheels)
  port: {AGENT_PORT}                  # on the guest's own loopback
  home: {b.agent_home}
  start_timeout_s: 300
  wheelhouse: {wheelhouse_dir(arm64=True)}   # aarch64 wheels; the guest reaches no index
runtimes: [litert, onnxruntime]
measure:
  preset: quick
  timeout_s: 900
tags: [lab, virtual, arm64, emulated]
"""


# -- down ---------------------------------------------------------------------------------------
def down(keep_files: bool = False, progress: Progress = lambda m: None) -> LabState | None:
    """Remove everything the lab state names: processes (by PID, and every process left in a board's
    namespace or cgroup), namespaces and veths (by name), cgroups, the range's unreachable route
    when no other lab needs it; then the board folders and profiles (unless ``keep_files``)."""
    state = load_state()
    if state is None:
        return None
    with net.locked():
        _down_locked(state, progress)
    if not keep_files:
        shutil.rmtree(lab_dir() / "boards", ignore_errors=True)
        for b in state.boards:
            Path(b.profile).unlink(missing_ok=True)
        for name in ("known_hosts", "ssh_config"):
            (lab_dir() / name).unlink(missing_ok=True)
    state_path().unlink(missing_ok=True)
    return state


def _down_locked(state: LabState, progress: Progress) -> None:
    errors = []
    for b in state.boards:
        progress(f"{b.name}: stopping processes")
        pids = set(net.netns_pids(b.netns)) if b.netns in net.namespaces() else set()
        if b.cgroup:
            pids |= set(cgroup.pids(b.cgroup))
        for pid in (b.sshd_pid, b.vm_pid):
            if pid and _is_ours(pid, b.dir):
                pids.add(pid)
        _kill_all(pids)
    for b in state.boards:
        progress(f"{b.name}: removing {b.netns}")
        net.remove_board(b.netns, b.veth)
        if b.cgroup:
            try:
                cgroup.remove(b.cgroup)
            except LabError as exc:
                errors.append(str(exc))
    net.remove_unreachable_route_if_unused()
    if errors:
        raise LabError("; ".join(errors))


def _is_ours(pid: int, board_dir: str) -> bool:
    try:
        return board_dir in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _kill_all(pids: set[int], grace_s: float = 5.0) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if _alive(p)}
        time.sleep(0.1)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in alive:
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)


def _alive(pid: int) -> bool:
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


# -- status -------------------------------------------------------------------------------------
def status() -> list[dict]:
    """One row per board: namespace present, sshd alive and listening, agent running, CPU cap."""
    state = load_state()
    if state is None:
        return []
    rows = []
    present = net.namespaces()
    for b in state.boards:
        agent = None
        try:
            if b.emulated:  # the agent's files are on the guest's disk: `testbed doctor` asks it
                raise OSError
            agent = json.loads((Path(b.agent_home) / "agent.json").read_text())
            if not _alive(int(agent["pid"])):
                agent = None
        except (OSError, ValueError, KeyError):
            agent = None
        pid = b.sshd_pid or b.vm_pid
        rows.append({
            "board": b.name, "netns": b.netns, "present": b.netns in present, "address": b.board_ip,
            "sshd_pid": pid, "sshd": bool(pid and _alive(pid)),
            "arch": "arm64 (emulated)" if b.emulated else platform.machine(), "vm_pid": b.vm_pid,
            "listening": _listening(b.board_ip), "agent": agent and agent.get("version"),
            "agent_pid": agent and agent.get("pid"),
            "cpu_quota": cgroup.quota_of(b.cgroup) if b.cgroup else None, "cpus": b.cpus,
            "profile": b.profile, "lab_id": state.lab_id,
        })
    return rows


def _listening(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=0.5):
            return True
    except OSError:
        return False
