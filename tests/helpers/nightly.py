"""A small lab for the nightly (`testbed run`) tests: board profiles, user models, plans, the store.

Boards: ``nbl`` (this machine through the local transport: a real agent subprocess, onnxruntime, one
thread, no power sensor, so runs are quick) and ``nb-offline`` (an SSH board on a closed port of
127.0.0.1: fails its health check). Models: two PyTorch factories (`testbed_zoo` user models), a stack of
``DEPTH`` dense+tanh layers; a test makes one slower between two runs by rewriting its ``DEPTH`` (a real
regression: the model got heavier, the same cell key).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil
import yaml

from helpers.cli import run

T = TypeVar("T")

FACTORY = '''import torch
DEPTH = {depth}


def build():
    torch.manual_seed(0)
    layers = []
    for _ in range(DEPTH):
        layers += [torch.nn.Linear(128, 128), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(128, 10)).eval(), (torch.zeros(1, 128),)
'''

LOCAL = """id: nbl
description: this machine for the nightly tests (no power sensor, one thread)
transport: local
runtimes: [onnxruntime]
threads: 1
measure: {warmup: 5, iterations: 300, timeout_s: 120}
power: {sensors: [none]}
agent: {start_timeout_s: 60}
"""

OFFLINE = """id: nb-offline
description: an SSH board nobody answers for (closed port on 127.0.0.1)
transport: ssh
ssh: {{host: 127.0.0.1, port: {port}, user: nobody, connect_timeout_s: 2, known_hosts: {known}}}
runtimes: [onnxruntime]
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: connections are refused


@dataclass
class Lab:
    root: Path
    env: dict[str, str]
    db: str

    def model(self, name: str, depth: int) -> str:
        """(Re)write the factory module ``name`` with ``depth`` layers; its model spec for plans."""
        (self.root / "models" / f"{name}.py").write_text(FACTORY.format(depth=depth))
        return f"{name}:build"

    def plan(self, name: str, **keys: Any) -> Path:
        body = {"name": name, "devices": ["nbl"], "formats": ["onnx"], "sources": ["pytorch"],
                "quantization": ["fp32"], "threads": [1], "repeats": 3,
                "execution": {"retries": 1, "backoff_s": 0.2, "cell_timeout_s": 120, "lease_ttl_s": 30},
                "verdict": {"threshold_pct": 10}}
        body.update(keys)
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(body))
        return path

    def testbed(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run(*args, timeout=timeout, env=self.env)

    def run_json(self, *args: str, timeout: float = 600) -> tuple[int, dict]:
        proc = self.testbed(*args, "--json", timeout=timeout)
        try:
            return proc.returncode, json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"rc={proc.returncode} stdout={proc.stdout[-2000:]} "
                                 f"stderr={proc.stderr[-3000:]}") from None


def make_lab(root: Path) -> Lab:
    (root / "profiles").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "profiles" / "nbl.yaml").write_text(LOCAL)
    known = root / "known_hosts"
    known.write_text("")
    (root / "profiles" / "nb-offline.yaml").write_text(OFFLINE.format(port=closed_port(), known=known))
    db = f"sqlite:///{root / 'results.db'}"
    pythonpath = os.pathsep.join(p for p in (str(root / "models"), os.environ.get("PYTHONPATH", "")) if p)
    env = {"TESTBED_PROFILES": str(root / "profiles"), "PYTHONPATH": pythonpath, "TESTBED_DB": db}
    return Lab(root=root, env=env, db=db)


def agent_processes(pid: int) -> list[psutil.Process]:
    """The device agents (local transport) started under process ``pid``."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for child in children:
        try:
            if "testbed_agent.cli" in " ".join(child.cmdline()) and "serve" in child.cmdline():
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


def kill_group(proc: psutil.Process) -> None:
    """SIGKILL a local agent and its worker (the agent leads its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(predicate: Callable[[], T], timeout: float, what: str, poll: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
