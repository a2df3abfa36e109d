"""What the lab made, and where: ``$TESTBED_HOME/lab/state.json`` names every board's PIDs, namespace,
veth and cgroup, so `lab down` removes them by PID and by name, even from a half-built lab."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..paths import home


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
    lab_host: str | None = None  # the lab host (its namespace) the board hangs off; None: this host


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
class LabHost:
    """A stand-in lab host (``lab up --hosts K``): a namespace that owns its boards' veth ends, so only
    a process inside it (``ip netns exec NETNS testbed worker ...``) reaches them. It has no link to
    this host's network: its worker reaches the broker and the store through unix sockets."""

    name: str  # host1, host2, ...
    netns: str


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
    hosts: list[LabHost] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> LabState:
        boards = [Board(**b) for b in data.pop("boards", [])]
        hosts = [LabHost(**h) for h in data.pop("hosts", [])]
        return cls(**data, boards=boards, hosts=hosts)


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


def wheelhouse_dir(arm64: bool = False) -> Path:
    """The host folder `testbed agent install` fills with the lab boards' wheels (profile
    ``agent.wheelhouse``): boards reach nothing but this host, so pip on a board cannot download."""
    return lab_dir().parent / ("wheelhouse-arm64" if arm64 else "wheelhouse")
