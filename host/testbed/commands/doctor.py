"""`testbed doctor --device D`: one line per check; problems name their fix; exit 1 when any."""

from __future__ import annotations

import json
import sys

import click

from ..errors import TestbedError
from ._common import fail, out_console


@click.command()
@click.option("--device", "-d", required=True, help="Profile id (profiles/<id>.yaml) or a path to one.")
@click.option("--strict", is_flag=True, help="Warnings count as problems (exit 1).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings (and the facts) as JSON.")
def doctor(device: str, strict: bool, as_json: bool) -> None:
    """Check DEVICE: SSH, host key, agent (running, version), runtimes, power sensors, CPU governor,
    temperature, free disk, clock skew. Exit status 1 when a problem was found."""
    from .. import profiles
    from ..fleet.doctor import evaluate, has_problems
    from ..fleet.probe import gather

    try:
        profile = profiles.load(device)
        facts = gather(profile)
    except TestbedError as exc:
        fail(exc)
        return
    findings = evaluate(profile, facts)
    if as_json:
        click.echo(json.dumps({"device": profile.id, "findings": [f.to_json() for f in findings],
                               "facts": facts.to_json()}, indent=2, default=str))
    else:
        console = out_console()
        colour = {"ok": "green", "warn": "yellow", "fail": "red"}
        for f in findings:
            console.print(f.line(), style=colour[f.level], highlight=False, soft_wrap=True, markup=False)
        problems = [f for f in findings if f.problem]
        console.print(f"{profile.id}: {len(problems)} problem(s)" if problems else f"{profile.id}: healthy",
                      highlight=False, markup=False)
    sys.exit(1 if has_problems(findings, strict) else 0)
