"""`testbed models`: the zoo, one line per model (or ``--json``)."""

from __future__ import annotations

import json

import click

from ._common import out_console, print_list

HEADERS = ("Model", "Task", "Input", "Weights", "Frameworks", "Description")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the models as a JSON list (every field of the table).")
def models(as_json: bool) -> None:
    """List the models in the zoo: id, task, input shape and dtype, weights (trained or seeded random),
    the frameworks it is written in and what it is. `--model` also takes your own file or factory."""
    rows = list_models()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    print_list(out_console(), HEADERS, [_cells(row) for row in rows])


def list_models() -> list[dict]:
    """One dict per zoo model: ``id``, ``task``, ``input_shape``, ``input_dtype``, ``weights``,
    ``frameworks``, ``description`` (its spec.yaml; no framework is imported)."""
    import testbed_zoo

    rows = []
    for model_id in testbed_zoo.available():
        spec = testbed_zoo.load(model_id).spec
        rows.append({"id": model_id, "task": spec.task, "input_shape": list(spec.input_shape),
                     "input_dtype": spec.input_dtype, "weights": spec.weights, "frameworks": list(spec.frameworks),
                     "description": spec.description})
    return rows


def _cells(row: dict) -> list[str]:
    shape = "x".join(map(str, row["input_shape"]))
    return [row["id"], row["task"], f"{shape} {row['input_dtype']}", row["weights"], ",".join(row["frameworks"]),
            row["description"]]
