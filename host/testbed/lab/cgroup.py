"""CPU caps for virtual boards: cgroup v2 ``cpu.max`` where the unified hierarchy has the cpu
controller, else cgroup v1 ``cpu.cfs_quota_us``. A board's sshd is put in its cgroup before it
starts (so every session, agent and worker under it inherits the cap)."""

from __future__ import annotations

import os
from pathlib import Path

from .net import LabError

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


def flavour() -> str | None:
    """``v2``, ``v1`` or None (no usable cpu controller)."""
    controllers = ROOT / "cgroup.controllers"
    if controllers.is_file() and "cpu" in controllers.read_text().split():
        return "v2"
    if (ROOT / "cpu" / "cpu.cfs_quota_us").is_file():
        return "v1"
    return None


def create(name: str, cpus: float) -> str:
    """A cgroup capped at ``cpus`` CPUs (0.25 = a quarter of one core); returns its folder."""
    kind = flavour()
    quota = max(1000, int(round(cpus * PERIOD_US)))
    try:
        if kind == "v2":
            subtree = ROOT / "cgroup.subtree_control"
            if "cpu" not in subtree.read_text().split():
                subtree.write_text("+cpu")
            path = ROOT / name
            path.mkdir(exist_ok=True)
            (path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        elif kind == "v1":
            path = ROOT / "cpu" / name
            path.mkdir(exist_ok=True)
            (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (path / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            raise LabError("--cpu-quota: no cgroup cpu controller here (neither v2 cpu.max nor v1 cpu.cfs_quota_us)")
    except OSError as exc:
        raise LabError(f"--cpu-quota: cannot set up cgroup {name}: {exc.strerror or exc} "
                       "(cgroups not writable here?)") from exc
    return str(path)


def join(path: str) -> None:
    """Move the calling process into the cgroup (used in the child before exec)."""
    Path(path, "cgroup.procs").write_text(str(os.getpid()))


def quota_of(path: str) -> float | None:
    """The cap in CPUs, read back from the cgroup (None when uncapped or gone)."""
    p = Path(path)
    try:
        if (p / "cpu.max").is_file():
            max_quota, period = (p / "cpu.max").read_text().split()
            return None if max_quota == "max" else int(max_quota) / int(period)
        quota = int((p / "cpu.cfs_quota_us").read_text())
        return None if quota < 0 else quota / int((p / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None


def pids(path: str) -> list[int]:
    try:
        return [int(x) for x in Path(path, "cgroup.procs").read_text().split()]
    except OSError:
        return []


def remove(path: str) -> None:
    try:
        Path(path).rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise LabError(f"cannot remove cgroup {path}: {exc.strerror} (processes left in it?)") from exc
