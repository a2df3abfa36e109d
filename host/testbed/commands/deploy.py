"""`testbed deploy`: convert, push, measure, store, compare (a run of the engine: `testbed runs`).
``--resume RUN`` measures what an interrupted deploy did not."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import TestbedError
from ..report.deploy_columns import DEFAULT, names
from ..report.width import say
from ._common import MODEL_HELP, SOURCES_HELP, fail, model_input_options, out_console, status_line, with_inputs


@click.command()
@click.option("--device", "-d", help="Profile id (profiles/<id>.yaml) or a path to one.")
@click.option("--model", "-m", "model_id", metavar="MODEL", help=MODEL_HELP)
@click.option("--formats", help="Comma list of formats to keep: executorch,onnx,tflite (default: all).")
@click.option("--sources", help=SOURCES_HELP)
@click.option("--quant", help="Comma list of quantizations: fp32,fp16,int8-dynamic,int8-static, or int8 for a user's "
                               "already-quantized .onnx/.tflite file used as is (default: all).")
@click.option("--preset", type=click.Choice(["quick", "default", "mlperf"]),
              help="Measurement preset: quick (>=20 runs, stop at ±5 %), default (>=50 runs and 0.5 s in 5 windows, "
                   "stop when a rerun's median is expected within ±2 %, at most 10 s), mlperf (SingleStream: "
                   ">=1024 queries and >=60 s, p90, VALID/INVALID). Default: the profile's measure.preset.")
@click.option("--iterations", type=click.IntRange(1), help="Minimum timed runs per artifact (default: the preset's).")
@click.option("--warmup", type=click.IntRange(0), help="Minimum warm-up runs (default: the preset's).")
@click.option("--threads", type=click.IntRange(1), help="Inference threads (default: the profile's).")
@click.option("--timeout", "timeout_s", type=float, help="Seconds before a run is killed.")
@click.option("--repeats", type=click.IntRange(1), default=1, show_default=True,
              help="Measure each variant in this many fresh workers; the ±CI then comes from their medians and "
                   "covers a fresh rerun (5: about 90-95 %, bench/README.md); with 1 it describes that one worker.")
@click.option("--profile-ops", is_flag=True,
              help="Also take a per-op profile (a separate pass after the timed runs); see `testbed report --ops`.")
@click.option("--power-windows", is_flag=True,
              help="Take power windows (an idle baseline, a timed phase of power.min_active_s) even when the "
                   "board's only power source is an estimate; without it an estimate is reported as not sampled.")
@click.option("--sustain", metavar="WINDOW",
              help="A sustained run: time every variant for this whole window (90s, 2m, 30m, 1h) and keep its "
                   "latency per second with temperature, frequency and throttling; prints whether the ranking at "
                   "the start holds at the end and each variant's slowdown (docs/sustain.md).")
@click.option("--db", help="Results store URL (default: sqlite under $TESTBED_HOME, or $TESTBED_DB).")
@click.option("--json", "as_json", is_flag=True, help="Print the result records as a JSON list.")
@click.option("--columns", "columns_spec", metavar="A,B,...",
              help=f"The table's columns, after the variant: {names()}. Default: {names(DEFAULT)} (fits 120 "
                   "terminal columns; status, energy and accuracy are left out when they say nothing for any variant, "
                   "and on a narrower terminal the last ones give way).")
@click.option("--wide", is_flag=True, help="Show every column (split into several tables on a narrow terminal).")
@click.option("--resume", "resume_id", metavar="RUN",
              help="Finish an interrupted deploy (`testbed runs`): measure only its missing variants.")
@model_input_options
def deploy(device: str | None, model_id: str | None, formats: str | None, sources: str | None, quant: str | None,
           preset: str | None, iterations: int | None, warmup: int | None, threads: int | None,
           timeout_s: float | None, db: str | None,
           as_json: bool, profile_ops: bool = False, power_windows: bool = False,
           resume_id: str | None = None, input_shapes: tuple[str, ...] = (), inputs_file: str | None = None,
           columns_spec: str | None = None, wide: bool = False, sustain: str | None = None,
           repeats: int = 1) -> None:
    """Convert MODEL to every format, measure each artifact on DEVICE, store and compare. Exit status:
    0 every variant ran (failed rows included), 3 interrupted or unfinished (resumable), 2 an error."""
    from .. import profiles
    from ..deploy import DeployOutcome
    from ..deploy import deploy as run_deploy
    from ..deploy import resume as resume_deploy
    from ..deploy_options import deploy_options
    from ..engine.run import Options
    from ..engine.ui import StatusUI
    from ..paths import home
    from ..quiet import tool_output_to
    from ..report.deploy_columns import select
    from ..report.table import render
    from ..store import Store

    if bool(resume_id) == bool(device and model_id) or (resume_id and (device or model_id)):
        raise click.UsageError("give --device and --model, or --resume RUN alone")
    log = home() / "logs" / "tools.log"
    try:
        columns = select(columns_spec, wide)  # a wrong name fails now, not after the measurements
        model_id = with_inputs(model_id, input_shapes, inputs_file)
        store = Store(db)
        opts = deploy_options(formats=formats, sources=sources, quantizations=quant, warmup=warmup,
                              iterations=iterations, threads=threads, timeout_s=timeout_s, preset=preset,
                              profile_ops=profile_ops, power_windows=power_windows,
                              sustain=sustain, repeats=repeats)  # the Python API's checks too
        profile = profiles.load(device) if device else None
        with tool_output_to(log) as ui:
            ui_console = out_console(file=ui)
            with status_line(ui_console) as update:
                run_ui = StatusUI(update, lambda text: ui_console.print(text, highlight=False),
                                  live=ui_console.is_terminal)
                options = Options(ui=run_ui)
                outcome: DeployOutcome
                if resume_id:
                    model_id, outcome = resume_deploy(resume_id, store, update, run_options=options)
                else:
                    assert profile is not None and model_id is not None
                    outcome = run_deploy(profile, model_id, opts, store, progress=update, device=device,
                                         run_options=options)
    except TestbedError as exc:
        fail(exc)
        return
    board = outcome.rows[0]["device"] if outcome.rows else (profile.id if profile else "?")
    _show(outcome, as_json, f"{model_id} on {board}  (run {outcome.run_id}, stored in {store.url})",
          lambda rows, title, console: render(rows, title, console, columns), log)
    if not as_json and outcome.rows:  # which framework's path wins on this board (issue #15)
        from ..framework_verdict import print_after_deploy

        print_after_deploy(out_console(), store, outcome.run_id)
        _print_sustained(outcome.rows)
    if outcome.status != "done" or outcome.unfinished:
        sys.exit(3)


def _print_sustained(rows: list[dict]) -> None:
    """A sustained run's summary: does the ranking at the start hold at the end; each slowdown."""
    from ..sustain import summary_lines, sustain_summary

    summary = sustain_summary(rows)
    for line in summary_lines(summary) if summary else []:
        click.echo(line)


def _show(outcome: Any, as_json: bool, title: str, render: Any, log: Path) -> None:
    """The rows (a table, or the records as JSON), the notes, and what is missing and how to finish it:
    on stderr, wrapped to the terminal's width like the table."""
    if as_json:
        click.echo(json.dumps(outcome.rows, indent=2))
    elif outcome.rows:
        render(outcome.rows, title, out_console())
    err = out_console(stderr=True)
    for note in outcome.notes:
        say(err, f"note: {note}", highlight=False)
    failed = sum(r["status"] != "ok" for r in outcome.rows)
    if failed:
        where = "their reasons in the records" if as_json else "listed with their reasons under the table"
        say(err, f"{failed} of {len(outcome.rows)} variants failed or were not run ({where}; the tools' own "
                 f"output is in {log})", highlight=False)
    if outcome.status != "done" or outcome.unfinished:
        why = "interrupted" if outcome.status != "done" else "unfinished (the board was lost)"
        say(err, f"{why}: {len(outcome.rows)} variant(s) shown, {outcome.unfinished} not measured "
                 f"(run {outcome.run_id}); to measure the rest:", highlight=False)
        err.print(f"  testbed deploy --resume {outcome.run_id}", highlight=False, soft_wrap=True)
