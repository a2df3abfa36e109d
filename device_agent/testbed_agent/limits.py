"""Per-run isolation applied inside the worker: a memory limit and CPU affinity.

Both are applied before the runtime is imported, so everything the runtime does (its thread
pools included) runs under them.

* ``memory_limit_mb`` -> ``resource.setrlimit(RLIMIT_AS)``: a limit on the worker's *address
  space* (virtual memory), not on its RSS. Runtimes reserve address space they never touch
  (ExecuTorch's Python runtime imports torch: ~0.8 GB before any model), so the limit must sit
  above that. An allocation past it fails inside the worker: Python raises MemoryError, C++
  runtimes ``std::bad_alloc`` or their own "failed to allocate"; some abort. Where the error text
  shows it, the run's error says "exceeded the memory limit of N MB" (``out_of_memory``).
* ``cpu_affinity`` -> ``os.sched_setaffinity(0, cpus)`` (Linux): e.g. only the big cores.
"""

from __future__ import annotations

import os
import re
import resource
from collections.abc import Sequence
from typing import Any

MB = 1024 * 1024
#: How an allocation failure shows in Python and in the runtimes' native code.
_OOM = re.compile(r"MemoryError|bad_alloc|failed to allocate|cannot allocate memory|out of memory|"
                  r"memory allocation (still )?failed|allocation failed|ENOMEM", re.IGNORECASE)


def apply_memory_limit(limit_mb: int | None) -> dict[str, Any]:
    """Set RLIMIT_AS (soft and hard) to ``limit_mb``; return what was applied, for ``settings``."""
    if limit_mb is None:
        return {"memory_limit_mb": None}
    limit = int(limit_mb) * MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return {"memory_limit_mb": int(limit_mb),
            "memory_limit": f"RLIMIT_AS (address space) = {int(limit_mb)} MB"}


def apply_cpu_affinity(cpus: Sequence[int] | None) -> dict[str, Any]:
    """Pin this process (and the threads it starts later) to ``cpus``; return the applied set.

    Raises ValueError naming the CPUs this machine has when the set cannot be applied.
    """
    if not cpus:
        current = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        return {"cpu_affinity": None, "cpus_allowed": current}
    if not hasattr(os, "sched_setaffinity"):
        raise ValueError("cpu_affinity needs os.sched_setaffinity (Linux); this OS has none")
    try:
        os.sched_setaffinity(0, set(int(c) for c in cpus))
    except OSError as exc:
        have = sorted(os.sched_getaffinity(0))
        raise ValueError(f"cannot pin to CPUs {sorted(cpus)}: {exc.strerror}; this worker may use "
                         f"CPUs {have}") from exc
    return {"cpu_affinity": sorted(int(c) for c in cpus),
            "cpus_allowed": sorted(os.sched_getaffinity(0))}


def out_of_memory(text: str | None) -> bool:
    """True when an error text or stderr tail shows an allocation failure."""
    return bool(text) and _OOM.search(text or "") is not None


def memory_limit_error(limit_mb: int, detail: str) -> str:
    """The one-line error of a run that ran out of its memory limit."""
    return (f"exceeded the memory limit of {limit_mb} MB (memory_limit_mb, the worker's address "
            f"space): {detail}")
