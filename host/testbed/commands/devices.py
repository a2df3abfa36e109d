"""`testbed devices`: the device profiles."""

from __future__ import annotations


import click

from ..errors import TestbedError
from ._common import out_console


@click.command()
def devices() -> None:
    """List device profiles (and any that do not validate)."""
    from .. import profiles

    console = out_console()
    for path, prof in profiles.all_profiles():
        if isinstance(prof, TestbedError):
            console.print(f"[red]{path.stem:<20}[/] invalid: {prof}")
        else:
            where = prof.ssh.host if prof.ssh else "this machine"
            console.print(f"{prof.id:<20} {prof.transport:<6} {where:<20} {prof.description}")
