"""`testbed deploy` to a board over real SSH: a real OpenSSH sshd on 127.0.0.1 (throwaway keys),
host-key checking against a known_hosts file, artifacts by SFTP, the agent started over SSH on the
"board's" 127.0.0.1 and reached through the SSH tunnel. The "board" is this machine."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import sshd as sshd_helper
from helpers.cli import run, run_json

pytestmark = pytest.mark.integration

FAST = ("--iterations", "10", "--warmup", "2", "--quant", "fp32")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd_helper.Sshd]:
    server = sshd_helper.start(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def board(sshd: sshd_helper.Sshd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A profile for the stand-in board; the agent it starts is killed by PID at the end."""
    root = tmp_path_factory.mktemp("board")
    agent_home = root / "agent-home"
    info = {"root": root, "agent_home": agent_home, "sshd": sshd}
    info["profile"] = write_profile(root, "sshboard", sshd, agent_home, known_hosts=sshd.known_hosts)
    yield info
    sshd_helper.stop_agent(agent_home)


def write_profile(root: Path, name: str, sshd: sshd_helper.Sshd, agent_home: Path, known_hosts: Path,
                  tofu: bool = False) -> Path:
    path = root / f"{name}.yaml"
    path.write_text(f"""
id: {name}
description: stand-in board over real SSH on 127.0.0.1
transport: ssh
ssh:
  host: 127.0.0.1
  port: {sshd.port}
  user: {sshd.user}
  key_file: {sshd.client_key}
  known_hosts: {known_hosts}
  trust_on_first_use: {str(tofu).lower()}
agent:
  python: {sys.executable}
  port: {sshd_helper.free_port()}
  home: {agent_home}
runtimes: [litert, onnxruntime, executorch]
""")
    return path


def test_deploy_over_ssh_end_to_end(board: dict) -> None:
    rows = run_json("deploy", "--device", str(board["profile"]), "--model", "digits_cnn", *FAST)
    ok = {(r["format"], r["source"]) for r in rows if r["status"] == "ok"}
    assert {("executorch", "pytorch"), ("onnx", "pytorch"), ("tflite", "keras")} <= ok
    for r in rows:
        if r["status"] == "ok":
            assert r["latency_ms"]["n"] >= 10 and r["accuracy"] >= 0.9
            assert r["parity"]["top1_agreement"] >= 0.99
    # artifacts went by SFTP into the board's store, named by sha256
    stored = {p.name for p in (board["agent_home"] / "store" / "artifacts").iterdir()}
    assert all(r["sha256"] in stored for r in rows if r["status"] == "ok")
    # the agent listens on the board's loopback only and its token file is private
    state = json.loads((board["agent_home"] / "agent.json").read_text())
    assert (board["agent_home"] / "token").stat().st_mode & 0o077 == 0
    assert state["port"] > 0


def test_second_deploy_reuses_agent_and_sends_nothing(board: dict) -> None:
    before = json.loads((board["agent_home"] / "agent.json").read_text())["pid"]
    rows = run_json("deploy", "--device", str(board["profile"]), "--model", "digits_cnn", *FAST)
    measured = [r for r in rows if r["status"] == "ok"]
    assert measured and all(r["cached"] and r["bytes_sent"] == 0 for r in measured)
    assert json.loads((board["agent_home"] / "agent.json").read_text())["pid"] == before


def test_unknown_host_key_is_a_clear_error(board: dict, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    prof = write_profile(tmp_path, "stranger", board["sshd"], board["agent_home"], known_hosts=empty)
    proc = run("deploy", "--device", str(prof), "--model", "digits_cnn", "--formats", "onnx", *FAST)
    assert proc.returncode == 2
    assert "unknown host key" in proc.stderr and "trust_on_first_use" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_trust_on_first_use_saves_the_key(board: dict, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    prof = write_profile(tmp_path, "tofu", board["sshd"], board["agent_home"], known_hosts=kh, tofu=True)
    rows = run_json("deploy", "--device", str(prof), "--model", "digits_cnn", "--formats", "onnx",
                    "--sources", "pytorch", *FAST)
    assert rows[0]["status"] == "ok", rows[0]["error"]
    assert board["sshd"].host_key_pub.read_text().split()[1] in kh.read_text()


def test_changed_host_key_is_refused(board: dict, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    other = tmp_path / "other_key"
    os.system(f"ssh-keygen -q -t ed25519 -N '' -f {other}")
    kh.write_text(f"[127.0.0.1]:{board['sshd'].port} {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n")
    prof = write_profile(tmp_path, "mitm", board["sshd"], board["agent_home"], known_hosts=kh)
    proc = run("deploy", "--device", str(prof), "--model", "digits_cnn", "--formats", "onnx", *FAST)
    assert proc.returncode == 2 and "does NOT match" in proc.stderr


def test_wrong_agent_token_is_a_clear_cli_line(board: dict) -> None:
    token_file = board["agent_home"] / "token"
    good = token_file.read_text()
    token_file.write_text("not-the-agent-token\n")  # e.g. rotated by hand while the agent runs
    try:
        proc = run("deploy", "--device", str(board["profile"]), "--model", "digits_cnn", "--formats", "onnx",
                   *FAST)
    finally:
        token_file.write_text(good)
    assert proc.returncode == 2
    assert "rejected the token (HTTP 401)" in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_board_is_a_clear_error(board: dict, tmp_path: Path) -> None:
    prof = write_profile(tmp_path, "offline", board["sshd"], board["agent_home"], known_hosts=board["sshd"].known_hosts)
    prof.write_text(prof.read_text().replace(f"port: {board['sshd'].port}", f"port: {sshd_helper.free_port()}"))
    proc = run("deploy", "--device", str(prof), "--model", "digits_cnn", "--formats", "onnx", *FAST)
    assert proc.returncode == 2 and "cannot reach" in proc.stderr
