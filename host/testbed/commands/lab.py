"""`testbed lab up|down|status`: virtual boards on this machine (needs root)."""

from __future__ import annotations

import json

import click
from rich.console import Console

from ..errors import TestbedError
from ._common import fail, out_console


@click.group()
def lab() -> None:
    """Virtual boards on this machine: network namespaces (198.18.x.y) with a real sshd each."""


@lab.command()
@click.option("--boards", "-n", type=click.IntRange(1, 63), default=1, show_default=True, help="How many boards.")
@click.option("--cpu-quota", type=float, help="Cap each board at this many CPUs (0.25 = a quarter of a core).")
@click.option("--pin", is_flag=True, help="Pin each board to one CPU (round robin over this machine's CPUs).")
@click.option("--arch", type=click.Choice(["native", "arm64"]), default="native", show_default=True,
              help="native: processes in a namespace, this machine's architecture. arm64: an emulated "
                   "aarch64 Debian board (qemu-system-aarch64, cortex-a72; image built once and cached, "
                   "needs root and a Debian mirror; timings labelled emulated).")
@click.option("--hosts", type=click.IntRange(0, 63), default=0, show_default=True,
              help="Stand-in lab hosts: K namespaces that own the boards (lab1..: host1 first), so only a "
                   "process inside one reaches its boards (`ip netns exec NETNS testbed worker --boards "
                   "tag:host1`). 0: the boards hang off this host.")
def up(boards: int, cpu_quota: float | None, pin: bool, arch: str, hosts: int) -> None:
    """Bring up N virtual boards and write a profile for each."""
    from ..lab import lab as lab_mod

    try:
        with Console(stderr=True, highlight=False).status("starting") as status:
            state = lab_mod.up(boards, cpu_quota=cpu_quota, pin=pin, arch=arch, hosts=hosts,
                               progress=lambda m: status.update(m))
    except TestbedError as exc:
        fail(exc)
        return
    for h in state.hosts:
        mine = ", ".join(b.name for b in state.boards if b.lab_host == h.name)
        click.echo(f"{h.name}: lab host, netns {h.netns}, boards {mine} (profiles tagged {h.name})")
    for b in state.boards:
        if b.emulated:
            click.echo(f"{b.name}: {b.board_ip} (netns {b.netns}, emulated aarch64, qemu pid {b.vm_pid}, "
                       f"booted in {b.boot_s:.0f} s" + (f", cpu quota {b.cpu_quota:g}" if b.cpu_quota else "")
                       + f")  profile {b.profile}")
            continue
        click.echo(f"{b.name}: {b.board_ip} (netns {b.netns}, sshd pid {b.sshd_pid}"
                   + (f", cpu quota {b.cpu_quota:g}" if b.cpu_quota else "")
                   + (f", cpu {b.cpus[0]}" if b.cpus else "") + (f", behind {b.lab_host}" if b.lab_host else "")
                   + f")  profile {b.profile}")
    click.echo(f"profiles: {lab_mod.profiles_dir()} (found by id: --device lab1)")
    arm64 = any(b.emulated for b in state.boards)
    click.echo(f"next: testbed agent install --device {state.boards[0].name}   (boards reach nothing but this "
               f"host: their profiles set agent.wheelhouse {lab_mod.wheelhouse_dir(arm64)}, which the install "
               "fills here with pip download - from that folder alone once it holds the wheels)")


@lab.command()
@click.option("--keep-files", is_flag=True, help="Keep the boards' folders (venvs, agent homes, logs).")
def down(keep_files: bool) -> None:
    """Stop every board process, remove the namespaces, veths, cgroups and routes of the lab."""
    from ..lab import lab as lab_mod

    try:
        state = lab_mod.down(keep_files=keep_files)
    except TestbedError as exc:
        fail(exc)
        return
    click.echo("no lab is up" if state is None else f"lab {state.lab_id}: {len(state.boards)} board(s) removed")


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Print the boards as JSON.")
def status(as_json: bool) -> None:
    """The lab's boards: namespace, address, sshd, agent, CPU cap."""
    from ..lab import lab as lab_mod

    rows = lab_mod.status()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no lab is up")
        return
    console = out_console()
    for r in rows:
        state = "up" if r["present"] and r["sshd"] and r["listening"] else "DOWN"
        agent = f"agent {r['agent']} (pid {r['agent_pid']})" if r["agent"] else "no agent running"
        cap = f", cpu quota {r['cpu_quota']:g}" if r["cpu_quota"] else ""
        pin = f", cpu {r['cpus'][0]}" if r["cpus"] else ""
        if r.get("vm_pid"):
            agent = "agent: see testbed doctor (inside the guest)"
        proc = f"qemu {r['vm_pid']} (arm64, emulated)" if r.get("vm_pid") else f"sshd {r['sshd_pid']}"
        console.print(f"{r['board']:<6} {state:<5} {r['address']:<15} {r['netns']:<14} {proc}  "
                      f"{agent}{cap}{pin}", highlight=False, markup=False)
