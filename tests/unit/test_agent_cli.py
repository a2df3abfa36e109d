"""The ``testbed-agent`` command line and the agent's import hygiene."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from testbed_agent.cli import main, resolve_token
from testbed_agent.errors import ConfigError
from testbed_agent.server import write_state_file


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == "testbed-agent 0.1.0"


def test_no_token_refuses_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TESTBED_AGENT_TOKEN", raising=False)
    assert main(["serve", "--port", "0", "--store", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("testbed-agent: error: no agent token; pass --token, --token-file or "
                            "set TESTBED_AGENT_TOKEN\n")


def test_token_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTBED_AGENT_TOKEN", "from-env")
    assert resolve_token(None, None) == "from-env"
    assert resolve_token("from-flag", None) == "from-flag"
    (tmp_path / "token").write_text("from-file\n")
    assert resolve_token(None, tmp_path / "token") == "from-file"
    with pytest.raises(ConfigError, match="cannot read --token-file"):
        resolve_token(None, tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    monkeypatch.delenv("TESTBED_AGENT_TOKEN")
    with pytest.raises(ConfigError, match="no agent token"):
        resolve_token(None, tmp_path / "empty")


def test_token_and_token_file_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--store", str(tmp_path), "--token", "a", "--token-file", "b"])
    assert exit_.value.code == 2


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "testbed_agent.cli", "serve", "--port", str(port),
                               "--store", str(tmp_path), "--token", "t"],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"testbed-agent: error: cannot listen on 127.0.0.1:{port}")


def test_server_imports_are_light() -> None:
    code = ("import sys, testbed_agent.cli, testbed_agent.server, testbed_agent.app;"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'tensorflow', 'onnxruntime', 'ai_edge_litert', 'executorch', 'testbed')];"
            "print(bad)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_state_file_is_atomic_json(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "agent.json"
    write_state_file(path, {"pid": 1, "port": 2})
    assert json.loads(path.read_text()) == {"pid": 1, "port": 2}
    assert [p.name for p in path.parent.iterdir()] == ["agent.json"]
