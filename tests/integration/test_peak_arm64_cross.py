"""The peak benchmark's arm paths, which this x86 machine cannot run natively: ``peak_bench.c`` built by
the agent's own ``peak.build`` with the real aarch64 GCC (for an arm CPU with dotprod, Cortex-A76, and
one without, Cortex-A53) and run under qemu's user-mode aarch64 emulator. What is checked is the code
path - the arm dot-product kernel compiles, runs the sdot instructions and reports int8 figures; an arm
CPU without dotprod reports none and why - never the speed: figures under an emulator mean nothing
(tools: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static from
scripts/install-system-deps.sh)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from testbed_agent.peak import build as peak_build

pytestmark = pytest.mark.integration

CROSS_GCC = "aarch64-linux-gnu-gcc"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: run scripts/install-system-deps.sh"
    return path


def _run_arm(tmp_path: Path, cpu: str) -> dict:
    """Build for ``cpu`` with the agent's build function (static: qemu has no arm64 libc here) and
    run it emulated on that CPU: 1 thread, 2 repetitions, 4 MB arrays."""
    compiler = peak_build.Compiler(path=_tool(CROSS_GCC), version="cross", flags=("-O3", f"-mcpu={cpu}", "-static"))
    binary = peak_build.build(tmp_path / cpu, compiler)
    head = binary.read_bytes()[:20]
    assert head[:5] == b"\x7fELF\x02" and int.from_bytes(head[18:20], "little") == 183  # ELF64, EM_AARCH64
    proc = subprocess.run([_tool("qemu-aarch64-static"), "-cpu", cpu, str(binary), "1", "2", str(4 << 20)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-800:]
    return json.loads(proc.stdout)


def test_arm_dotprod_kernel_builds_and_reports_int8(tmp_path: Path) -> None:
    out = _run_arm(tmp_path, "cortex-a76")
    assert out["int8_isa"] == "arm dotprod sdot (128-bit)" and out["int8_reason"] is None
    assert out["int8_gops"] > 0 and out["fp32_gflops"] > 0 and out["bandwidth_gb_per_s"] > 0
    assert out["fp32_lanes"] == 4  # NEON: 128-bit vectors of fp32


def test_arm_without_dotprod_reports_no_int8_and_why(tmp_path: Path) -> None:
    out = _run_arm(tmp_path, "cortex-a53")
    assert out["int8_gops"] is None and out["int8_isa"] is None
    assert "no int8 dot-product instruction" in out["int8_reason"] and "arm dotprod" in out["int8_reason"]
    assert out["fp32_gflops"] > 0  # fp32 and bandwidth still measured
