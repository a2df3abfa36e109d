"""What users look at first: `--model` and `--sources` say what they take on every command that has
them; `testbed models` and `testbed devices` print a header and aligned columns, and their `--json`
lists what the table lists."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from testbed.cli import main
from testbed.converters.base import SOURCES


def _commands_with(option: str) -> list[str]:
    assert isinstance(main, click.Group)
    return sorted(name for name, cmd in main.commands.items()
                  if any(option in p.opts for p in cmd.params if isinstance(p, click.Option)))


def _help(command: str, option: str) -> str:
    """The help text of ``option`` as `testbed COMMAND --help` shows it (unwrapped)."""
    assert isinstance(main, click.Group)
    cmd = main.commands[command]
    opt = next(p for p in cmd.params if isinstance(p, click.Option) and option in p.opts)
    record = opt.get_help_record(click.Context(cmd))
    assert record is not None
    shown = " ".join(CliRunner().invoke(main, [command, "--help"], terminal_width=400).output.split())
    assert " ".join(record[1].split()) in shown
    return record[1]


@pytest.mark.parametrize("command", _commands_with("--model"))
def test_model_option_says_it_takes_a_zoo_id_a_file_or_a_factory(command: str) -> None:
    text = _help(command, "--model")
    for words in ("zoo id", "`testbed models`", ".onnx", ".tflite", ".pt2", ".keras", "SavedModel",
                  "package.module:function"):
        assert words in text, (command, words)


@pytest.mark.parametrize("command", _commands_with("--sources"))
def test_sources_option_lists_every_source(command: str) -> None:
    text = _help(command, "--sources")
    for source in SOURCES:
        assert source in text, (command, source)


def test_the_commands_with_model_and_sources_are_found() -> None:
    assert {"convert", "deploy"} <= set(_commands_with("--model")) & set(_commands_with("--sources"))


def _table(output: str) -> tuple[list[str], list[str]]:
    """(header line, row lines) of a list command's output; the rule under the header checked."""
    lines = output.splitlines()
    header, rule, *rows = lines
    assert set(rule) <= {"-", " "} and rule.startswith("-"), rule
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " " == header[i - 2])]
    for line in [rule, *rows]:  # every column starts where its header does
        for start in starts[1:]:
            assert line[start - 2:start] == "  " and line[start] != " ", (line, start)
    return header, rows


def test_models_has_a_header_aligned_columns_and_json_with_the_same_models() -> None:
    result = CliRunner().invoke(main, ["models"], terminal_width=200, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    header, rows = _table(result.output)
    assert header.split() == ["Model", "Task", "Input", "Weights", "Frameworks", "Description"]
    assert all(len(line.encode()) <= 200 for line in result.output.splitlines())
    listed = json.loads(CliRunner().invoke(main, ["models", "--json"]).output)
    assert [row.split()[0] for row in rows] == [m["id"] for m in listed]
    digits = next(m for m in listed if m["id"] == "digits_cnn")
    assert digits["input_shape"] == [1, 1, 8, 8] and set(digits["frameworks"]) == {"pytorch", "keras"}
    assert {"task", "input_dtype", "weights", "description"} <= set(digits)
    line = next(row for row in rows if row.startswith("digits_cnn "))
    assert "1x1x8x8 float32" in line and "pytorch,keras" in line and "trained" in line
    minilm = next(m for m in listed if m["id"] == "minilm_l6")
    assert "[minilm]" in minilm["description"]  # brackets are text, not rich markup


def test_models_cuts_long_descriptions_to_the_terminal_not_the_columns() -> None:
    result = CliRunner().invoke(main, ["models"], env={"COLUMNS": "100"})
    lines = result.output.splitlines()
    assert all(len(line.encode()) <= 100 for line in lines), [ln for ln in lines if len(ln.encode()) > 100]
    assert any(line.endswith("...") for line in lines)
    _table(result.output)


PROFILE = """id: {id}
description: {description}
transport: local
runtimes: [onnxruntime]
"""


def test_devices_has_a_header_aligned_columns_and_json_with_the_same_profiles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tb-a.yaml").write_text(PROFILE.format(id="tb-a", description="board [a] with brackets"))
    (tmp_path / "tb-long-name.yaml").write_text(PROFILE.format(id="tb-long-name", description="board b"))
    (tmp_path / "tb-bad.yaml").write_text("id: tb-bad\ntransport: local\nno_such_key_" + "x" * 200 + ": 1\n")
    monkeypatch.setenv("TESTBED_PROFILES", str(tmp_path))
    ids = ["tb-a", "tb-long-name", "tb-bad"]
    result = CliRunner().invoke(main, ["devices", *ids], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    header, rows = _table(result.output)
    assert header.split() == ["Device", "Transport", "Where", "Description"]
    listed = json.loads(CliRunner().invoke(main, ["devices", "--json", *ids]).output)
    assert [row.split()[0] for row in rows] == [d["id"] for d in listed]
    for row, profile in zip(rows, listed, strict=True):
        if "error" in profile:
            assert "invalid: " in row and "x" * 200 in row  # a reason is never cut
        else:
            assert row.split()[1:3] == [profile["transport"], "this"] and row.endswith(profile["description"])
    assert "board [a] with brackets" in result.output


def test_devices_live_adds_its_columns_to_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from testbed.commands import devices

    (tmp_path / "tb-a.yaml").write_text(PROFILE.format(id="tb-a", description="board a"))
    monkeypatch.setenv("TESTBED_PROFILES", str(tmp_path))
    monkeypatch.setattr(devices, "_live", lambda profile, timeout_s: {"reachable": "yes", "agent": "9.9",
                                                                      "running": "no"})
    result = CliRunner().invoke(main, ["devices", "--live", "tb-a"], env={"COLUMNS": "200"})
    header, rows = _table(result.output)
    assert header.split() == ["Device", "Transport", "Where", "Reachable", "Agent", "Running", "Description"]
    assert rows[0].split()[:7] == ["tb-a", "local", "this", "machine", "yes", "9.9", "no"]
    listed = json.loads(CliRunner().invoke(main, ["devices", "--live", "--json", "tb-a"]).output)
    assert (listed[0]["reachable"], listed[0]["agent"], listed[0]["running"]) == ("yes", "9.9", "no")
