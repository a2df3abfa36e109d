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

This module runs up/down/status; the parts are beside it: ``state.py`` (what the lab made),
``net.py`` (namespaces, veths, routes), ``cgroup.py`` (CPU caps), ``processes.py`` (a board's sshd or
QEMU guest), ``vm.py`` and ``arm64_image.py`` (the emulated board), ``client_files.py`` (profiles,
known_hosts, ssh_config).
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import time
from pathlib import Path

from ..errors import ConfigError
from . import arm64_image, cgroup, client_files, net, processes, vm
from .net import LabError
from .processes import Progress
from .state import Board, LabHost, LabState, lab_dir, load_state, profiles_dir, save_state, state_path, wheelhouse_dir

__all__ = ["Board", "LabHost", "LabState", "down", "lab_dir", "load_state", "profiles_dir", "status", "up",
           "wheelhouse_dir"]


# -- up -----------------------------------------------------------------------------------------
def up(boards: int, cpu_quota: float | None = None, pin: bool = False, arch: str = "native",
       progress: Progress = lambda m: None, hosts: int = 0) -> LabState:
    arch = _board_arch(arch)
    if not 1 <= boards <= 63:
        raise ConfigError("--boards must be 1..63")
    if not 0 <= hosts <= boards:
        raise ConfigError(f"--hosts must be 0 (the boards hang off this host) to --boards ({boards})")
    if hosts and arch != "native":
        raise ConfigError("--hosts: lab hosts own native boards only (an emulated board's port forward "
                          "runs in this host's namespace)")
    if cpu_quota is not None and not 0.01 <= cpu_quota <= (os.cpu_count() or 1):
        raise ConfigError(f"--cpu-quota must be between 0.01 and {os.cpu_count()} CPUs")
    net.check_tools()
    sshd = processes.find_sshd() if arch == "native" else ""
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
        processes.keygen(client_key)
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
            for k in range(1, hosts + 1):
                state.hosts.append(LabHost(name=f"host{k}", netns=f"tb-{lab_id}-host{k}"))
                save_state(state)
                progress(f"host{k}: namespace {state.hosts[-1].netns}")
                net.add_lab_host(state.hosts[-1].netns)
            for i in range(1, boards + 1):
                host_ip, board_ip = net.board_addresses(subnet, i)
                name = f"lab{i}"
                owner = state.hosts[(i - 1) * hosts // boards] if hosts else None  # contiguous: lab1, lab2 on host1
                board = Board(name=name, index=i, netns=f"tb-{lab_id}-b{i}", veth=f"tb{lab_id}h{i}",
                              host_ip=host_ip, board_ip=board_ip, dir=str(root / "boards" / name),
                              profile=str(profiles_dir() / f"{name}.yaml"), arch=arch,
                              lab_host=owner.name if owner else None)
                state.boards.append(board)
                save_state(state)  # named before it exists: `lab down` finds a half-made board
                progress(f"{name}: namespace {board.netns}, {board_ip}" + (f", behind {owner.name}" if owner else ""))
                net.add_board(board.netns, board.veth, f"tb{lab_id}p{i}", host_ip, board_ip,
                              owner.netns if owner else None)
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
                processes.start_vm(image, root, board, progress)
            else:
                progress(f"{board.name}: starting sshd on {board.board_ip}:22")
                processes.start_sshd(sshd, root, board)
            save_state(state)
        client_files.write_client_files(root, state)
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
            if pid and processes.is_ours(pid, b.dir):
                pids.add(pid)
        processes.kill_all(pids)
    for h in state.hosts:  # a lab host's processes (its workers) before its boards go
        if h.netns in net.namespaces():
            progress(f"{h.name}: stopping processes")
            processes.kill_all(set(net.netns_pids(h.netns)))
    for b in state.boards:
        progress(f"{b.name}: removing {b.netns}")
        net.remove_board(b.netns, b.veth)
        if b.cgroup:
            try:
                cgroup.remove(b.cgroup)
            except LabError as exc:
                errors.append(str(exc))
    for h in state.hosts:
        progress(f"{h.name}: removing {h.netns}")
        if h.netns in net.namespaces():
            net.ip("netns", "del", h.netns, check=False)
    net.remove_unreachable_route_if_unused()
    if errors:
        raise LabError("; ".join(errors))


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
            if not processes.is_alive(int(agent["pid"])):
                agent = None
        except (OSError, ValueError, KeyError):
            agent = None
        pid = b.sshd_pid or b.vm_pid
        rows.append({
            "board": b.name, "netns": b.netns, "present": b.netns in present, "address": b.board_ip,
            "sshd_pid": pid, "sshd": bool(pid and processes.is_alive(pid)),
            "arch": "arm64 (emulated)" if b.emulated else platform.machine(), "vm_pid": b.vm_pid,
            "listening": processes.board_listening(b), "lab_host": b.lab_host, "agent": agent and agent.get("version"),
            "agent_pid": agent and agent.get("pid"),
            "cpu_quota": cgroup.quota_of(b.cgroup) if b.cgroup else None, "cpus": b.cpus,
            "profile": b.profile, "lab_id": state.lab_id,
        })
    return rows
