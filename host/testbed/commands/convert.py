"""`testbed convert`: the conversion matrix with parity and accuracy."""

from __future__ import annotations

import json

import click

from ..errors import TestbedError
from ._common import (
    MODEL_HELP,
    SOURCES_HELP,
    err_console,
    fail,
    model_input_options,
    out_console,
    split,
    status_line,
    with_inputs,
)


@click.command()
@click.option("--model", "-m", "model_id", required=True, metavar="MODEL", help=MODEL_HELP)
@click.option("--formats", help="Comma list: executorch,onnx,tflite (default: all).")
@click.option("--sources", help=SOURCES_HELP)
@click.option("--quant", help="Comma list of quantizations, e.g. fp32,int8-static; int8: a user's already-quantized "
                               "file used as is (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the variants as a JSON list.")
@model_input_options
def convert(model_id: str, formats: str | None, sources: str | None, quant: str | None, as_json: bool,
            input_shapes: tuple[str, ...] = (), inputs_file: str | None = None) -> None:
    """Convert MODEL to every selected variant and check each against its source (parity, accuracy)."""
    from ..convert import convert_matrix
    from ..paths import home
    from ..quiet import tool_output_to
    from ..report.convert_table import render

    try:
        model_id = with_inputs(model_id, input_shapes, inputs_file) or model_id
        with tool_output_to(home() / "logs" / "tools.log") as ui:
            with status_line(out_console(file=ui)) as update:
                outcome = convert_matrix(model_id, split(formats), split(sources), split(quant), progress=update)
    except TestbedError as exc:
        fail(exc)
        return
    if as_json:
        click.echo(json.dumps(outcome.rows, indent=2, default=str))
    else:
        render(outcome.rows, f"{model_id}: conversion matrix", out_console())
    for note in outcome.notes:
        err_console.print(f"note: {note}", highlight=False, soft_wrap=True)
