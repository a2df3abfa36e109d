"""The board's own peak compute (GFLOP/s) and memory bandwidth, for the host's roofline.

``for_request(request)`` runs in the worker right after CPU isolation, so the benchmark runs on the
CPUs the measurement may use, with the request's ``threads`` (default: every CPU the worker may
use). What runs: ``peak_bench.c`` (its header says how each figure is taken), compiled on the board
by ``peak.build`` with ``-O3 -march=native`` (``-mcpu=native`` on arm):

* ``fp32_gflops``: independent FMA chains in registers, vectorized as wide as the CPU allows;
* ``int8_gops``: the ISA's int8 dot product (AVX-VNNI / AVX512-VNNI, arm dotprod), else None with
  ``int8_reason``;
* ``bandwidth_gb_per_s``: a STREAM triad over three arrays each 4x the last-level cache (16 MB at
  least, within a memory limit);

each the best of ``REPEATS`` repetitions of about 40 ms: about 1-3 s in all. A repetition counts
only when its threads had the CPUs (their CPU time >= 90 % of the wall time); a figure with no such
repetition is ``contended: true`` (the best of all kept, ``clean_repeats`` says how many counted) and
is measured again after ``RETRY_CONTENDED_S`` (the better figure stays).

The figure is cached per board and CPU setting: the key holds the CPU model, the CPUs allowed, the
threads, the governors, the benchmark's source hash, the compiler and the triad size. The cache is
machine-wide (``$TESTBED_PEAK_CACHE``, else ``$XDG_CACHE_HOME/testbed-agent/peak``, else
``~/.cache/testbed-agent/peak``), so a fresh agent home does not pay it again. A cached figure comes
back with ``cached: true`` and the ``measured_at`` of its measurement.

No compiler, a failed build or run: ``{"available": False, "reason": "<one line>"}`` (never cached,
so an installed compiler is used next time); never a guessed figure.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..native.build import BuildError, _locked
from . import build as peak_build

CACHE_ENV = "TESTBED_PEAK_CACHE"
REPEATS = 10
#: A figure measured while other processes took the CPUs is measured again after this long.
RETRY_CONTENDED_S = 600
RUN_TIMEOUT_S = 60
MIN_TRIAD_BYTES = 16 << 20
MAX_TRIAD_BYTES = 512 << 20
SYS_CPU = Path("/sys/devices/system/cpu")


def for_request(request: dict[str, Any]) -> dict[str, Any] | None:
    """The peak record for this request's CPU setting (measured once, then cached); None unless
    the request asks for it (``peak``)."""
    if not request.get("peak"):
        return None
    return measure(request.get("threads"))


def default_cache() -> Path:
    """``$TESTBED_PEAK_CACHE``, else ``$XDG_CACHE_HOME/testbed-agent/peak``, else ``~/.cache/...``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "testbed-agent" / "peak"


def measure(threads: int | None = None, cache: Path | None = None) -> dict[str, Any]:
    """The peak of this process's CPU setting with ``threads`` (default: the CPUs it may use): from
    the cache, else compiled and run now. Never raises for a board problem: ``available: False``."""
    cache = cache or default_cache()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        compiler = peak_build.find(cache)
        setting = cpu_setting(threads, compiler)
        key = hashlib.sha256(json.dumps(setting, sort_keys=True).encode()).hexdigest()[:20]
        path = cache / f"peak-{key}.json"
        hit = _read(path)
        if hit is not None and _settled(hit):
            return {**hit, "cached": True}
        with _locked(cache / f".peak-{key}.lock"):  # one measurement at a time per setting
            hit = _read(path)
            if hit is not None and _settled(hit):
                return {**hit, "cached": True}
            record = _run(peak_build.build(cache, compiler), setting, compiler)
            if hit is not None and record["contended"] and hit["fp32_gflops"] >= record["fp32_gflops"]:
                record = {**hit, "retried_at": _now()}  # contended again: the better figure stays
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(record, indent=1) + "\n")
            os.replace(tmp, path)
        return {**record, "cached": False}
    except (BuildError, PeakError) as exc:
        return {"available": False, "reason": str(exc)}
    except OSError as exc:
        return {"available": False, "reason": f"peak benchmark: {exc}"}


def _settled(hit: dict[str, Any]) -> bool:
    """A cached figure to use as it is: a clean one, or a contended one retried within RETRY_CONTENDED_S."""
    if not hit.get("contended"):
        return True
    try:
        last = datetime.fromisoformat(hit.get("retried_at") or hit["measured_at"])
    except (KeyError, TypeError, ValueError):
        return False
    return (datetime.now(timezone.utc) - last).total_seconds() < RETRY_CONTENDED_S


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class PeakError(Exception):
    """The benchmark ran but gave no figure; ``str()`` is the reason, one line."""


def cpu_setting(threads: int | None, compiler: peak_build.Compiler) -> dict[str, Any]:
    """What the figure depends on: the cache key (and the record's ``setting``)."""
    from ..info import cpu_model

    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "board": platform.node(), "machine": platform.machine(), "cpu_model": cpu_model(),
        "cpus_allowed": allowed, "threads": int(threads) if threads else len(allowed or [0]),
        "governors": sorted({g for g in (_governor(c) for c in allowed or []) if g}) or None,
        "source_sha256": peak_build.source_hash(), "compiler": compiler.describe(),
        "triad_bytes_per_array": triad_bytes(), "repeats": REPEATS,
    }


def triad_bytes() -> int:
    """Bytes per triad array: 4x the last-level cache (STREAM's rule), at least 16 MB, at most 512 MB,
    an eighth of the memory available and of an address-space limit."""
    size = max(4 * _llc_bytes(), MIN_TRIAD_BYTES)
    caps = [MAX_TRIAD_BYTES]
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        caps.append(soft // 8)
    avail = _mem_available_bytes()
    if avail:
        caps.append(avail // 8)
    return int(min(size, *caps))


def _run(binary: Path, setting: dict[str, Any], compiler: peak_build.Compiler) -> dict[str, Any]:
    threads, size = setting["threads"], setting["triad_bytes_per_array"]
    start = time.perf_counter()
    try:
        proc = subprocess.run([str(binary), str(threads), str(REPEATS), str(size)], capture_output=True,
                              text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise PeakError(f"the peak benchmark ran more than {RUN_TIMEOUT_S} s") from exc
    wall_s = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise PeakError(f"the peak benchmark failed (exit {proc.returncode}): {tail[:300]}")
    try:
        out = json.loads(proc.stdout)
    except ValueError as exc:
        raise PeakError(f"the peak benchmark printed no JSON: {proc.stdout.strip()[:200]!r}") from exc
    int8 = (f"int8: {out['int8_isa']}, {out['accumulators']} chains a thread"
            if out.get("int8_isa") else "int8: none")
    clean = {name: out.get(f"{name}_clean_repeats") for name in ("fp32", "int8", "bandwidth")
             if out.get(f"{name}_clean_repeats") is not None}
    contended = [name for name, n in clean.items() if n == 0]
    method = (f"peak_bench.c compiled on the board with {compiler.describe()} -pthread; {threads} "
              f"thread(s) (pthreads) on CPUs {setting['cpus_allowed']}; fp32: {out['accumulators']} "
              f"independent {out['fp32_lanes']}-lane FMA chains a thread (2 FLOPs a lane); {int8}; "
              f"bandwidth: STREAM triad a=b+s*c over 3 arrays of {size >> 20} MB (doubles, 24 bytes an "
              f"element: two reads, one write); each figure the best of {REPEATS} repetitions of ~40 ms whose "
              f"threads ran >= {out.get('clean_share', 0.9):.0%} of the wall time (clean repetitions: "
              f"{', '.join(f'{k} {v}' for k, v in clean.items())})"
              + (f"; CONTENDED: no clean repetition for {', '.join(contended)} (other processes took the "
                 f"CPUs): the best of all is kept, measured again after {RETRY_CONTENDED_S} s" if contended else ""))
    return {
        "available": True,
        "fp32_gflops": out["fp32_gflops"],
        "int8_gops": out.get("int8_gops"),
        "int8_reason": out.get("int8_reason"),
        "bandwidth_gb_per_s": out.get("bandwidth_gb_per_s"),
        "bandwidth_reason": out.get("bandwidth_reason"),
        "threads": threads,
        "method": method,
        "setting": setting,
        "contended": bool(contended),
        "clean_repeats": clean,
        "measured_at": _now(),
        "benchmark_s": round(wall_s, 3),
    }


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("available") else None


def _governor(cpu: int) -> str | None:
    try:
        return (SYS_CPU / f"cpu{cpu}" / "cpufreq" / "scaling_governor").read_text().strip() or None
    except OSError:
        return None


def _llc_bytes() -> int:
    """The largest cache of cpu0 (sysfs ``cache/index*/size``: 32768K, 1M), 0 when unknown."""
    best = 0
    for index in (SYS_CPU / "cpu0" / "cache").glob("index*"):
        try:
            text = (index / "size").read_text().strip().upper()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            best = max(best, int(digits) * scale)
    return best


def _mem_available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
