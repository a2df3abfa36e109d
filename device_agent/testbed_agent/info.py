"""What ``GET /v1/info`` reports: the machine, and which runtimes can be used on it.

Runtime availability is probed without importing any runtime (no torch in the server).
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any

import psutil

from . import __version__
from .runtimes import all_runtimes
from .runtimes.base import Probe
from .schema import AgentInfo

#: What this agent understands beyond the first API version, for hosts that talk to older agents:
#: ``power.idle_valid_s`` (cached idle baselines), ``phases_s`` (time per phase in results),
#: ``forkserver`` (workers forked from per-runtime fork servers, ``--worker-start``).
FEATURES = ("power.idle_valid_s", "phases_s", "forkserver", "workers.prestart")


@functools.cache
def runtime_probes() -> dict[str, Probe]:
    """Availability of every registered runtime, probed once per process."""
    return {name: runtime.probe() for name, runtime in sorted(all_runtimes().items())}


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU's model name from /proc/cpuinfo (x86 ``model name``, Pi ``Model``...)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return platform.processor() or None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "model", "hardware", "cpu model", "processor"):
        found = fields.get(key)
        if found and not found.isdigit():
            return found
    return platform.processor() or None


def board_model(path: Path = Path("/proc/device-tree/model")) -> str | None:
    """The board name from the device tree (Raspberry Pi, Jetson), where there is one."""
    try:
        return path.read_bytes().rstrip(b"\x00").decode(errors="replace").strip() or None
    except OSError:
        return None


def agent_info() -> dict[str, Any]:
    """The ``/v1/info`` document (``schema.AgentInfo``, with the wire schema's version)."""
    return AgentInfo(
        agent_version=__version__,
        hostname=socket.gethostname(),
        machine=platform.machine(),
        cpu=cpu_model(),
        board=board_model(),
        cores=os.cpu_count(),
        memory_bytes=int(psutil.virtual_memory().total),
        os=platform.platform(),
        python=platform.python_version(),
        python_executable=sys.executable,
        runtimes={name: probe.to_json() for name, probe in runtime_probes().items()},
        power=power_probes(),
        features=list(FEATURES),
    ).to_wire()


@functools.cache
def power_probes() -> dict[str, Any]:
    """Which power sensors this board has (cached: the pi5_pmic probe runs vcgencmd)."""
    from .power import probe_all

    return probe_all()
