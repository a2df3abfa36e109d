"""`testbed devices [--live]`: the device profiles, and with --live whether each board answers."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import click

from ..errors import TestbedError
from ._common import out_console, print_list

if TYPE_CHECKING:
    from ..profiles import Profile


@click.command()
@click.argument("ids", nargs=-1)
@click.option("--live", is_flag=True, help="Connect to each board: reachable?, agent version, running?")
@click.option("--tag", "tags", multiple=True, help="Only profiles with this tag (repeatable: any of them).")
@click.option("--timeout", "timeout_s", type=float, default=5.0, show_default=True,
              help="With --live: SSH connect timeout per board, in seconds.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the profiles as a JSON list (every field of the table, and each profile's path).")
def devices(ids: tuple[str, ...], live: bool, tags: tuple[str, ...], timeout_s: float, as_json: bool) -> None:
    """List device profiles (and any that do not validate); IDS and --tag narrow the list."""
    from .. import profiles

    found = [(path, prof) for path, prof in profiles.all_profiles()
             if (not ids or path.stem in ids)
             and (not tags or (not isinstance(prof, TestbedError) and set(tags) & set(prof.tags)))]
    valid = [(path, prof) for path, prof in found if not isinstance(prof, TestbedError)
             # shipped examples (tag "example") point at placeholder hosts: contact them only by name
             and ("example" not in prof.tags or path.stem in ids)]
    status: dict[str, dict] = {}
    if live and valid:
        with ThreadPoolExecutor(max_workers=min(16, len(valid))) as pool:
            rows_live = pool.map(lambda p: _live(p[1], timeout_s), valid)
            for board, row in zip([p for _, p in valid], rows_live, strict=True):
                status[board.id] = row
    rows = []
    for path, prof in found:
        if isinstance(prof, TestbedError):
            rows.append({"id": path.stem, "path": str(path), "error": str(prof)})
            continue
        row = {"id": prof.id, "path": str(path), "transport": prof.transport,
               "where": prof.connection.where() if prof.connection else "this machine",
               "description": prof.description}
        if live and prof.id not in status:
            row.update(reachable="not checked (example; name it to check)", agent=None, running="-")
        row.update(status.get(prof.id, {}))
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    headers = ["Device", "Transport", "Where"] + (["Reachable", "Agent", "Running"] if live else []) + ["Description"]
    cells, styles = [], []
    for row in rows:
        if "error" in row:  # a profile that does not validate: its reason where the description goes
            cells.append([row["id"], "-", "-", *(["-"] * 3 if live else []), f"invalid: {row['error']}"])
            styles.append("red")
            continue
        live_cells = [row["reachable"], row["agent"] or "-", row["running"]] if live else []
        cells.append([row["id"], row["transport"], row["where"], *live_cells, row["description"]])
        styles.append("")
    print_list(out_console(), headers, cells, styles)


def _live(profile: Profile, timeout_s: float) -> dict:
    """reachable (yes / no / host key unknown...), agent version installed, running (yes/no/pid)."""
    from ..fleet.probe import gather
    from ..transports.capabilities import ManagesAgent, SharesThisMachine, has

    if has(profile.transport, SharesThisMachine):
        from ..fleet.wheel import agent_version

        return {"reachable": "yes", "agent": agent_version(), "running": "per deploy"}
    if not has(profile.transport, ManagesAgent):
        return {"reachable": "checked when a deploy connects", "agent": None, "running": "-"}
    try:
        facts = gather(profile, connect_timeout_s=timeout_s, retries=1, live_only=True)
    except TestbedError as exc:
        return {"reachable": f"error: {exc}"[:60], "agent": None, "running": "?"}
    reachable = {None: "yes", "unreachable": "no", "hostkey-unknown": "host key unknown",
                 "hostkey-changed": "HOST KEY CHANGED", "auth": "login refused", "other": "error"}
    return {
        "reachable": reachable.get(facts.ssh_error_kind, "error"),
        "agent": facts.running_version or facts.installed_version,
        "running": ("yes" if facts.running and not facts.health_error else
                    "no answer" if facts.running else "no" if facts.reachable and not facts.ssh_error else "?"),
        "ssh_error": facts.ssh_error,
    }
