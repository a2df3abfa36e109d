"""The Python API, for notebooks and scripts: ``testbed.deploy``, ``testbed.results``, ``testbed.runs``.

    >>> import testbed
    >>> r = testbed.deploy(model="digits_cnn", device="local", formats=["onnx"])
    >>> r.to_pandas()[["variant", "p50_ms", "size_bytes"]]
    >>> testbed.results(r.run_id)           # the same run, read back from the store
    >>> testbed.runs()                       # what `testbed runs` lists

``deploy`` is `testbed deploy`: the same options (built by ``deploy_options``, as the CLI builds
them), the same engine run stored in the same store, the same one-line errors - raised as
``TestbedError`` subclasses (``ConfigError``, ``ModelError``, ...), never an exit. Every call opens
the store (``db``, else ``$TESTBED_DB``, else SQLite under ``$TESTBED_HOME``) and returns typed
results (``run_results``). Nothing heavy is imported until a function runs: ``import testbed``
stays as light as the CLI needs it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .run_results import RunResults, RunSummary, VariantResult

if TYPE_CHECKING:
    from .deploy_options import Filter
    from .store import Store

__all__ = ["RunResults", "RunSummary", "VariantResult", "deploy", "results", "runs"]

#: ``progress``: True prints what happens on stderr (a line per step), False nothing, or a function
#: that gets each line.
Progress = bool | Callable[[str], None]


def deploy(model: str, device: str = "local", *, formats: Filter = None, sources: Filter = None,
           quantization: Filter = None, preset: str | None = None, iterations: int | None = None,
           warmup: int | None = None, threads: int | None = None, timeout_s: float | None = None,
           profile_ops: bool = False, power_windows: bool = False, sustain: str | float | None = None,
           input_shapes: Sequence[str] | Mapping[str, Sequence[int]] = (), inputs: str | Path | None = None,
           db: str | None = None, progress: Progress = True, repeats: int = 1) -> RunResults:
    """Convert ``model`` to every selected variant, measure each on ``device`` and store them, as
    ``testbed deploy --model MODEL --device DEVICE`` does; the run's results.

    ``model``: a zoo id (`testbed models`) or a model file; ``device``: a profile id or file.
    Filters (a list or a comma string, None = all): ``formats`` (executorch, onnx, tflite, ...),
    ``sources`` (pytorch, keras), ``quantization`` (fp32, fp16, int8-dynamic, int8-static).
    ``preset`` (quick, default, mlperf), ``iterations``, ``warmup``, ``threads``, ``timeout_s``,
    ``profile_ops``, ``power_windows``, ``input_shapes`` and ``inputs``: as the CLI's flags; None =
    the profile's. ``sustain``: a sustained run, every variant timed for this window ("90s", "2m",
    "30m", "1h", or seconds; docs/sustain.md); each row's record then has ``sustain``. ``repeats``: each
    variant measured in this many fresh workers (one record each; see `testbed deploy --repeats`).
    The tools' own output goes to ``$TESTBED_HOME/logs/tools.log``, as with the CLI.
    Ctrl-C keeps what was measured: the result says ``interrupted`` and how many were not measured
    (``testbed deploy --resume RUN`` measures them).

    Raises:
        TestbedError: a bad model, device, option or store - one line, as the CLI prints it; a board
            that never answered. A variant that fails is a row with its reason, not an error.
    """
    from . import profiles
    from .deploy import deploy as run_deploy
    from .deploy_options import deploy_options, model_reference
    from .engine.run import Options
    from .paths import home
    from .quiet import tool_output_to
    from .store import Store

    options = deploy_options(formats=formats, sources=sources, quantizations=quantization, preset=preset,
                             iterations=iterations, warmup=warmup, threads=threads, timeout_s=timeout_s,
                             profile_ops=profile_ops, power_windows=power_windows, sustain=sustain,
                             repeats=repeats)
    ref = model_reference(model, input_shapes, inputs)
    board = profiles.load(device)
    store = Store(db)
    with tool_output_to(home() / "logs" / "tools.log") as stderr:
        ui, say = _progress(progress, stderr)
        outcome = run_deploy(board, ref, options, store, progress=say, device=device, run_options=Options(ui=ui))
    return dataclasses.replace(_read_run(store, outcome.run_id), notes=list(outcome.notes))


def results(run_id: str, db: str | None = None) -> RunResults:
    """A stored run - a deploy or a plan run, by its id or an unambiguous start of it; or a deployment,
    a record's ``run_id`` - read back: the same ``RunResults`` as ``deploy`` returned (``notes`` are
    not stored: empty).

    Raises:
        ConfigError: no such run (`testbed runs` lists them), or a start that matches several.
    """
    from .store import Store

    return _read_run(Store(db), run_id)


def runs(limit: int = 20, db: str | None = None) -> list[RunSummary]:
    """The newest ``limit`` runs in the store, deploys and plan runs alike, newest first (`testbed runs`)."""
    from .store import Store

    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        from .errors import ConfigError

        raise ConfigError(f"limit must be a whole number >= 1, got {limit!r:.30}")
    store = Store(db)
    found = [RunSummary(run_id=r["id"], kind=r["kind"], status=r["status"], created_at=r["created_at"],
                        devices=r["devices"], models=r["models"], done=r["done"], total=r["total"])
             for r in store.run_summaries(limit)]
    found += [RunSummary(run_id=d.id, kind="deploy (old)", status=d.status, created_at=d.created_at,
                         devices=[d.device], models=[d.model], done=None, total=None)
              for d in store.standalone_deployments(limit)]
    return sorted(found, key=lambda r: r.created_at, reverse=True)[:limit]


def _read_run(store: Store, run_id: str) -> RunResults:
    """The run ``run_id`` as ``RunResults``: a run by its id; else a deployment (a record's ``run_id``,
    or a deploy stored before deploys were runs); else the run whose id starts so. Every stored record
    is a row, and each cell that ran without one (failed, skipped, error) a row with its reason; cells
    not run yet are counted in ``unfinished``."""
    from .store import FINISHED

    run = store.plan_run(run_id)
    if run is None:
        old = store.deployment(run_id)
        if old is not None:
            return RunResults(run_id=old.id, kind="deployment", status=old.status, created_at=old.created_at,
                              devices=[old.device], models=[old.model], store_url=store.url,
                              rows=[VariantResult.from_record(r.record, r.samples_ns, r.power_samples)
                                    for r in store.results(old.id) if r.record])
        run = store.find_plan_run(run_id)  # a start of an id; else the one-line error naming `testbed runs`
    cells = store.plan_cells(run.id)
    stored = store.cell_results(c.id for c in cells)
    rows: list[VariantResult] = []
    for cell in cells:
        found = [r for r in stored[cell.id] if r.record]
        rows += [VariantResult.from_record(r.record, r.samples_ns, r.power_samples, threads=cell.threads, repeat=i)
                 for i, r in enumerate(found)]
        if not found and cell.state in ("failed", "skipped", "error"):
            rows.append(VariantResult.from_record(_unmeasured(cell), threads=cell.threads))
    return RunResults(run_id=run.id, kind=run.kind, status=run.status, created_at=run.created_at,
                      devices=sorted({c.device for c in cells}), models=list(dict.fromkeys(c.model for c in cells)),
                      rows=rows, unfinished=sum(c.state not in FINISHED for c in cells), store_url=store.url)


def _unmeasured(cell: Any) -> dict[str, Any]:
    """The record-shaped row of a cell that has no record: its identity, its state as the status, the reason."""
    return {"device": cell.device, "model": cell.model, "converter": cell.converter, "format": cell.format,
            "source": cell.source, "quantization": cell.quantization, "runtime": cell.runtime,
            "status": cell.state, "error": cell.error}


def _progress(progress: Progress, stream: IO[str]) -> tuple[Any, Callable[[str], None]]:
    """The run's UI and the deploy's progress function: lines on ``stream`` (the real stderr while the
    tools' output goes to their log), a caller's function, or nothing."""
    from .engine.ui import SilentUI, StatusUI

    if progress is False:
        return SilentUI(), lambda text: None
    if callable(progress):
        return StatusUI(progress, progress), progress
    lines = _Lines(stream)
    return lines, lines.message


class _Lines:
    """Progress as plain lines: a board's status when it changes, each variant as it finishes, messages."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._last: dict[str, str] = {}
        self._lock = threading.Lock()

    def _say(self, text: str) -> None:
        with self._lock:
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except (ValueError, OSError):  # a worker finishing after the stream was closed
                pass

    def board(self, device: str, status: str, done: int, total: int) -> None:
        if self._last.get(device) != status:
            self._last[device] = status
            self._say(f"[{device}] {done}/{total} {status}")

    def cell(self, device: str, key: str, state: str, detail: str) -> None:
        self._say(f"[{device}] {state} {key}" + (f": {detail}" if detail else ""))

    def message(self, text: str) -> None:
        self._say(text)
