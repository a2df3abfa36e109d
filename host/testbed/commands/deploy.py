"""`testbed deploy`: convert, push, measure, store, compare."""

from __future__ import annotations

import json

import click
from rich.console import Console

from ..errors import TestbedError
from ._common import err_console, fail, out_console, split


@click.command()
@click.option("--device", "-d", required=True, help="Profile id (profiles/<id>.yaml) or a path to one.")
@click.option("--model", "-m", "model_id", required=True, help="Model id from the zoo (`testbed models`).")
@click.option("--formats", help="Comma list of formats to keep: executorch,onnx,tflite (default: all).")
@click.option("--sources", help="Comma list of source frameworks: pytorch,keras (default: both).")
@click.option("--quant", help="Comma list of quantizations: fp32,fp16,int8-dynamic,int8-static, or int8 for a user's "
                               "already-quantized .onnx/.tflite file used as is (default: all).")
@click.option("--preset", type=click.Choice(["quick", "default", "mlperf"]),
              help="Measurement preset: quick (>=20 runs, stop at ±5 %), default (>=50 runs and 0.5 s, "
                   "stop when the median's 95 % CI is within ±1 %, at most 30 s), mlperf (SingleStream: "
                   ">=1024 queries and >=60 s, p90, VALID/INVALID). Default: the profile's measure.preset.")
@click.option("--iterations", type=click.IntRange(1), help="Minimum timed runs per artifact (default: the preset's).")
@click.option("--warmup", type=click.IntRange(0), help="Minimum warm-up runs (default: the preset's).")
@click.option("--threads", type=click.IntRange(1), help="Inference threads (default: the profile's).")
@click.option("--timeout", "timeout_s", type=float, help="Seconds before a run is killed.")
@click.option("--profile-ops", is_flag=True,
              help="Also take a per-op profile (a separate pass after the timed runs); see `testbed report --ops`.")
@click.option("--power-windows", is_flag=True,
              help="Take power windows (an idle baseline, a timed phase of power.min_active_s) even when the "
                   "board's only power source is an estimate; without it an estimate is reported as not sampled.")
@click.option("--db", help="Results store URL (default: sqlite under $TESTBED_HOME, or $TESTBED_DB).")
@click.option("--json", "as_json", is_flag=True, help="Print the result records as a JSON list.")
def deploy(device: str, model_id: str, formats: str | None, sources: str | None, quant: str | None,
           preset: str | None, iterations: int | None, warmup: int | None, threads: int | None,
           timeout_s: float | None, db: str | None,
           as_json: bool, profile_ops: bool = False, power_windows: bool = False) -> None:
    """Convert MODEL to every format, measure each artifact on DEVICE, store and compare."""
    from .. import profiles
    from ..deploy import DeployOptions
    from ..deploy import deploy as run_deploy
    from ..paths import home
    from ..quiet import tool_output_to
    from ..report.table import render
    from ..store import Store

    log = home() / "logs" / "tools.log"
    try:
        profile = profiles.load(device)
        store = Store(db)
        opts = DeployOptions(formats=split(formats), sources=split(sources), quantizations=split(quant), warmup=warmup,
                             iterations=iterations, threads=threads, timeout_s=timeout_s, preset=preset,
                             profile_ops=profile_ops, power_windows=power_windows)
        with tool_output_to(log) as ui:
            ui_console = Console(file=ui, highlight=False)
            with ui_console.status("starting") as status:
                outcome = run_deploy(profile, model_id, opts, store, progress=lambda m: status.update(m))
    except TestbedError as exc:
        fail(exc)
        return
    if as_json:
        click.echo(json.dumps(outcome.rows, indent=2))
    else:
        render(outcome.rows, f"{model_id} on {profile.id}  (run {outcome.run_id}, stored in {store.url})",
               out_console())
    for note in outcome.notes:
        err_console.print(f"note: {note}", highlight=False, soft_wrap=True)
    if any(r["status"] != "ok" for r in outcome.rows):
        err_console.print(f"{sum(r['status'] != 'ok' for r in outcome.rows)} of {len(outcome.rows)} "
                          "variants failed (see rows)")
