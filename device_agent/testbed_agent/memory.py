"""Memory figures of a measurement, for ``measure``: the resident set size now and the peak per phase.

Memory figures are this process's own: the high-water mark of its address space (``VmHWM``),
never ``ru_maxrss``, which Linux carries over from the process that spawned the worker (exec
folds the parent's peak into it: an agent that grew run after run made every worker's "peak"
grow with it). In a worker forked by a fork server the baseline is taken in the worker, after
the fork and a reset of the high-water mark, before anything is loaded.
"""

from __future__ import annotations

import re
import resource
import sys

import psutil


def rss_bytes() -> int:
    """Current resident set size of this process."""
    return int(psutil.Process().memory_info().rss)


def peak_rss_bytes() -> int:
    """Peak resident set size so far (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class PhasePeaks:
    """Peak RSS per phase, from this process's own high-water mark (``VmHWM`` in
    /proc/self/status), reset at the start of each phase by writing ``5`` to
    /proc/self/clear_refs (also at the start, so nothing before the measurement counts). Where the
    reset is refused each phase reports the process's own peak so far; where there is no VmHWM
    (not Linux), ``ru_maxrss`` - which ``method`` says, with its caveat."""

    STATUS, CLEAR = "/proc/self/status", "/proc/self/clear_refs"

    def __init__(self) -> None:
        self.per_phase = self._reset()
        self.own_hwm = self._hwm() is not None
        self.lifetime = self._peak()
        if self.per_phase:
            self.method = "VmHWM, reset per phase via /proc/self/clear_refs"
        elif self.own_hwm:
            self.method = "VmHWM (this process's peak so far, not per phase)"
        else:
            self.method = ("ru_maxrss (peak of the process so far, not per phase; may include the "
                           "spawning process's peak)")

    def _reset(self) -> bool:
        try:
            with open(self.CLEAR, "w") as f:
                f.write("5")
            return self._hwm() is not None
        except OSError:
            return False

    def _hwm(self) -> int | None:
        try:
            with open(self.STATUS) as f:
                found = re.search(r"^VmHWM:\s+(\d+)\s+kB", f.read(), re.MULTILINE)
        except OSError:
            return None
        return int(found.group(1)) * 1024 if found else None

    def _peak(self) -> int:
        return (self._hwm() if self.own_hwm else None) or peak_rss_bytes()

    def start(self) -> None:
        """Start a phase: record the peak so far, reset the high-water mark."""
        self.end()
        if self.per_phase:
            self._reset()

    def end(self) -> int:
        """The peak RSS of the phase that is ending (also folded into ``lifetime``)."""
        peak = self._peak()
        self.lifetime = max(self.lifetime, peak, rss_bytes())
        return peak

