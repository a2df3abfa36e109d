"""The files a host uses to reach the lab's boards: known_hosts, an ssh_config, one profile per board."""

from __future__ import annotations

import getpass
import platform
from pathlib import Path

from . import arm64_image, vm
from .state import Board, LabState, wheelhouse_dir

AGENT_PORT = 8765


def write_client_files(root: Path, state: LabState) -> None:
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
        if b.lab_host:
            host = next(h for h in state.hosts if h.name == b.lab_host)
            notes.append(f"behind lab host {b.lab_host}: reached from its namespace {host.netns} only")
        if b.cpu_quota is not None:
            notes.append(f"cpu quota {b.cpu_quota:g}")
        if b.cpus:
            notes.append(f"pinned to cpu {','.join(map(str, b.cpus))}")
        Path(b.profile).write_text(emulated_profile(state, b, root, notes) if b.emulated else f"""\
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
tags: [{', '.join(['lab', 'virtual', *([b.lab_host] if b.lab_host else [])])}]
""")


def emulated_profile(state: LabState, b: Board, root: Path, notes: list[str]) -> str:
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
