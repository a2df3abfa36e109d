"""One cell on one board, for ``board.BoardWorker``: every repeat measured through the agent, retried on a
board fault, committed with all its repeats in one transaction the moment it finishes.

A cell that still fails after the retries is marked ``error`` with the reason and the board ``lost``
(``BoardLost``). A failed conversion or run, or a request the agent refuses (HTTP 4xx, say a
``runtime_settings`` key it does not know), is a finding: the cell is ``failed`` (finished) with the
reason, once, and the board goes on with its other cells.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import rerun_spread
from ..errors import PERMANENT, TestbedError, first_line
from .board_link import FAULTS, BoardLink
from .lease import BoardBusy
from .measure import MeasureContext, measure_artifact
from .plan import deploy_options


class BoardLost(TestbedError):
    pass


class CellRunner(BoardLink):
    """Run one cell over the board's link (a mixin of ``board.BoardWorker``)."""

    def _cell(self, cell: Any, deployment_id: str) -> None:
        ctx, ex = self.ctx, self.ctx.plan.execution
        art = ctx.artifacts[(cell.model, cell.converter)]
        model = ctx.models[cell.model]
        options = deploy_options(ctx.plan, cell.threads, ex.cell_timeout_s)
        last: Exception | None = None
        for attempt in range(ex.retries + 1):
            if ctx.stop.is_set():
                return
            try:
                if attempt:
                    wait = self._backoff(attempt)
                    self._say(f"{cell.converter}: board fault, retry {attempt}/{ex.retries} in {wait:.0f} s")
                    ctx.sleep(wait)
                    if ctx.stop.is_set():
                        return
                ctx.store.start_cell(cell.id)  # counts the attempt, reconnecting included
                if self.client is None:
                    self._say("reconnecting")
                    self._connect_once()
                assert self.lease is not None
                self.lease.ensure()
                results = []
                for r in range(cell.repeats):
                    if ctx.stop.is_set():
                        return  # the cell stays unfinished: --resume redoes it whole
                    what = (f"measuring {cell.model} {cell.converter}" + (f" t{cell.threads}" if cell.threads else "")
                            + (f" run {r + 1}/{cell.repeats}" if cell.repeats > 1 else ""))
                    self._say(what)
                    record, samples, power = measure_artifact(art, MeasureContext(
                        model, self.transport, self.client, self.info, self.profile, options, ctx.refs[cell.model],
                        deployment_id, progress=self._step(what),
                        faults=(*FAULTS, *PERMANENT), live=getattr(ctx.ui, "live", False)))
                    results.append((record, samples, power))
                    if record["status"] != "ok":
                        break  # a failed run is a finding; repeating it measures nothing
                bad = next((rec for rec, _, _ in results if rec["status"] != "ok"), None)
                state = "failed" if bad else "done"
                error = bad.get("error") if bad else None
                if state == "done":  # the interval a rerun falls in: this board's history of reruns
                    rerun_spread.apply(results, rerun_spread.estimate(
                        cell.device, cell.runtime, ctx.store.rerun_history(cell.device, cell.runtime,
                                                                           rerun_spread.HISTORY_RESULTS)))
                ctx.store.finish_cell(cell.id, state, error, deployment_id, results)
                cell.state = state
                ctx.ui.cell(self.device, cell.key, state, error or _summary(results))
                return
            except PERMANENT as exc:
                last = exc
                break
            except (BoardBusy, *FAULTS) as exc:
                last = exc
                self._disconnect()
            except TestbedError as exc:  # not retryable, outside a run (a 4xx on the lease): the board stops
                last = exc
                break
        tries = f"after {attempt + 1} attempt{'s' if attempt else ''}"
        reason = f"{first_line(last) if last else 'interrupted'} ({tries})"
        ctx.store.mark_cells([cell.id], "error", reason)
        cell.state = "error"
        ctx.ui.cell(self.device, cell.key, "error", reason)
        raise BoardLost(reason)

    def _step(self, what: str) -> Callable[[str], None]:
        """The board's status for a step of measuring ``what``: "measuring ...: uploading x.onnx 1.2/3.4 MB"."""
        def say(step: str) -> None:
            self._say(f"{what}: {step}")
        return say


def _summary(results: list) -> str:
    p50 = [rec["latency_ms"]["p50"] for rec, _, _ in results if rec.get("latency_ms", {}).get("p50") is not None]
    return f"p50 {min(p50):.3f}..{max(p50):.3f} ms over {len(p50)} runs" if p50 else ""
