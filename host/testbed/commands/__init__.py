"""The `testbed` commands, one module each. Add a module and list it here."""

from __future__ import annotations

import importlib

import click

COMMANDS = ["deploy", "convert", "devices", "models", "report", "run", "runs", "compare", "agent", "doctor", "lab",
            "worker", "serve"]


def register_all(group: click.Group) -> None:
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        group.add_command(getattr(module, name))
