"""`testbed models`: the zoo."""

from __future__ import annotations

import click


@click.command()
def models() -> None:
    """List the models in the zoo."""
    import testbed_zoo

    for model_id in testbed_zoo.available():
        spec = testbed_zoo.load(model_id).spec
        click.echo(f"{model_id:<16} {spec.description}")
