"""`testbed` command line. Commands are thin: they parse options and call the library."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from . import __version__
from .errors import TestbedError

err_console = Console(stderr=True, highlight=False)


def _out_console() -> Console:
    """Tables are wide: when stdout is not a terminal (a file, CI log), do not wrap them at 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=240)


def _fail(exc: TestbedError) -> None:
    err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="testbed")
def main() -> None:
    """Convert ML models for edge boards, measure them on the board, compare."""


@main.command()
@click.option("--device", "-d", required=True, help="Profile id (profiles/<id>.yaml) or a path to one.")
@click.option("--model", "-m", "model_id", required=True, help="Model id from the zoo (`testbed models`).")
@click.option("--formats", help="Comma list of formats to keep: executorch,onnx,tflite (default: all).")
@click.option("--sources", help="Comma list of source frameworks: pytorch,keras (default: both).")
@click.option("--iterations", type=click.IntRange(1), help="Timed runs per artifact (default: the profile's).")
@click.option("--warmup", type=click.IntRange(0), help="Warm-up runs (default: the profile's).")
@click.option("--threads", type=click.IntRange(1), help="Inference threads (default: the profile's).")
@click.option("--timeout", "timeout_s", type=float, help="Seconds before a run is killed.")
@click.option("--db", help="Results store URL (default: sqlite under $TESTBED_HOME, or $TESTBED_DB).")
@click.option("--json", "as_json", is_flag=True, help="Print the result records as a JSON list.")
def deploy(device: str, model_id: str, formats: str | None, sources: str | None, iterations: int | None,
           warmup: int | None, threads: int | None, timeout_s: float | None, db: str | None,
           as_json: bool) -> None:
    """Convert MODEL to every format, measure each artifact on DEVICE, store and compare."""
    from . import profiles
    from .deploy import DeployOptions, deploy as run_deploy
    from .report.table import render
    from .store import Store

    from .paths import home
    from .quiet import tool_output_to

    log = home() / "logs" / "tools.log"
    try:
        profile = profiles.load(device)
        store = Store(db)
        opts = DeployOptions(formats=_split(formats), sources=_split(sources), warmup=warmup,
                             iterations=iterations, threads=threads, timeout_s=timeout_s)
        with tool_output_to(log) as ui:
            ui_console = Console(file=ui, highlight=False)
            with ui_console.status("starting") as status:
                outcome = run_deploy(profile, model_id, opts, store, progress=lambda m: status.update(m))
    except TestbedError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(outcome.rows, indent=2))
    else:
        render(outcome.rows, f"{model_id} on {profile.id}  (run {outcome.run_id}, stored in {store.url})",
               _out_console())
    if any(r["status"] != "ok" for r in outcome.rows):
        err_console.print(f"{sum(r['status'] != 'ok' for r in outcome.rows)} of {len(outcome.rows)} "
                          "variants failed (see rows)")


@main.command()
@click.option("--model", "-m", "model_id", required=True, help="Model id from the zoo (`testbed models`).")
@click.option("--formats", help="Comma list: executorch,onnx,tflite (default: all).")
@click.option("--sources", help="Comma list: pytorch,keras (default: both).")
@click.option("--quant", help="Comma list of quantizations, e.g. fp32,int8-static (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the variants as a JSON list.")
def convert(model_id: str, formats: str | None, sources: str | None, quant: str | None, as_json: bool) -> None:
    """Convert MODEL to every selected variant and check each against its source (parity, accuracy)."""
    from .convert import convert_matrix
    from .paths import home
    from .quiet import tool_output_to
    from .report.convert_table import render

    try:
        with tool_output_to(home() / "logs" / "tools.log") as ui:
            with Console(file=ui, highlight=False).status("starting") as status:
                rows = convert_matrix(model_id, _split(formats), _split(sources), _split(quant),
                                      progress=lambda m: status.update(m))
    except TestbedError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
    else:
        render(rows, f"{model_id}: conversion matrix", _out_console())


def _split(value: str | None) -> list[str] | None:
    return [x.strip() for x in value.split(",") if x.strip()] if value else None


@main.command()
def devices() -> None:
    """List device profiles (and any that do not validate)."""
    from . import profiles

    console = _out_console()
    for path, prof in profiles.all_profiles():
        if isinstance(prof, TestbedError):
            console.print(f"[red]{path.stem:<20}[/] invalid: {prof}")
        else:
            where = prof.ssh.host if prof.ssh else "this machine"
            console.print(f"{prof.id:<20} {prof.transport:<6} {where:<20} {prof.description}")


@main.command()
def models() -> None:
    """List the models in the zoo."""
    import testbed_zoo

    for model_id in testbed_zoo.available():
        spec = testbed_zoo.load(model_id).spec
        click.echo(f"{model_id:<16} {spec.description}")


if __name__ == "__main__":
    main()
