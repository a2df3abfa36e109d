"""The framework verdict of a stored run: its records and raw samples read from the store.

A run (``testbed run``, or a ``testbed deploy``: a run of kind deploy) has cells; a cell's results
are its repeats, each with its record and raw samples. A cell with no result (not measured: the
board was skipped, the run interrupted) still counts, as a side that was not measured with the
cell's reason. A side the run has no cell for is absent: "not requested" when the run's filters
left it out, else "not in this run".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from .verdict import NOT_IN_RUN, FrameworkVerdict, judge, sample_key

if TYPE_CHECKING:
    from ..store import Store

#: What a cell without a result says when its state has no reason of its own.
UNFINISHED = "not measured: the run was interrupted (`testbed deploy --resume RUN` / `testbed run --resume RUN`)"


def for_run(store: Store, run_id: str) -> list[FrameworkVerdict]:
    """The verdicts of run ``run_id`` (a run id or an unambiguous prefix; an older deploy's
    deployment id works too): one per (model, board) of the run."""
    try:
        run = store.find_plan_run(run_id)
    except ConfigError:
        results = store.results(run_id)  # a deploy from before deploys were runs: a deployment id
        if not results:
            raise
        return judge([r.record or {} for r in results], _runs(results), run_id=run_id)
    cells = store.plan_cells(run.id)
    by_cell = store.cell_results([c.id for c in cells])
    records: list[dict] = []
    for cell in cells:
        records += [r.record or {} for r in by_cell[cell.id]] or [unmeasured(cell)]
    rows = [r for cell in cells for r in by_cell[cell.id]]
    return judge(records, _runs(rows), absent=why_absent(run.plan), run_id=run.id)


def _runs(results: list[Any]) -> dict[str, list[np.ndarray]]:
    """``sample_key`` -> the raw samples of each measured result (one array per repeat, ns)."""
    runs: dict[str, list[np.ndarray]] = {}
    for res in results:
        if res.status == "ok" and res.samples_ns:
            runs.setdefault(sample_key(res.record or {}), []).append(np.asarray(res.samples_ns, dtype=np.float64))
    return runs


def unmeasured(cell: Any) -> dict[str, Any]:
    """The record-shaped identity of a cell with no result: its state as the status, its reason."""
    return {"model": cell.model, "device": cell.device, "converter": cell.converter, "format": cell.format,
            "source": cell.source, "quantization": cell.quantization, "runtime": cell.runtime,
            "threads": None, "status": cell.state, "error": cell.error or UNFINISHED}


def why_absent(plan: dict[str, Any]) -> Callable[[str], str]:
    """``converter -> reason`` for a variant the run has no cell for: which of the run's filters
    (formats, sources, quantization) left it out, else ``NOT_IN_RUN``."""
    from ..converters import all_converters

    known = {c.name: c for c in all_converters()}

    def why(converter: str) -> str:
        conv = known.get(converter)
        if conv is None:
            return NOT_IN_RUN
        for key, value in (("formats", conv.format), ("sources", conv.source), ("quantization", conv.quantization)):
            wanted = plan.get(key)
            if wanted and value not in wanted:
                return f"not requested (the run's {key}: {', '.join(wanted)})"
        return NOT_IN_RUN
    return why
