"""Progress on every long step, as plain lines where nothing is a terminal: an upload's bytes (a few
lines a file in a log, throttled on a live line), conversions counted, a board's status per measured
cell; a command's status line prints lines into a log instead of a spinner that never shows, and
never on stdout (a deploy's --json stays pure JSON)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from testbed.commands._common import status_line
from testbed.engine import artifacts
from testbed.engine.board_cell import CellRunner
from testbed.engine.ui import LineUI, RichUI, SilentUI, StatusUI
from testbed.transports.base import Transport
from testbed.transports.progress import MB, ByteProgress

CHUNK = 32768  # paramiko's SFTP put calls back after every 32 KiB


def _log() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200, highlight=False), buf


def sftp_calls(size: int) -> Iterator[tuple[int, int]]:
    """The (sent, total) calls paramiko makes putting a file of ``size`` bytes."""
    sent = 0
    while sent < size:
        sent = min(size, sent + CHUNK)
        yield sent, size


def test_an_upload_in_a_log_is_at_most_five_lines_ending_at_100_percent() -> None:
    lines: list[str] = []
    upload = ByteProgress("model.tflite", lines.append, live=False)
    for sent, total in sftp_calls(3_400_000):
        upload(sent, total)
    assert lines[0] == "uploading model.tflite 0.0/3.4 MB (0 %)"
    assert lines[-1] == "uploading model.tflite 3.4/3.4 MB (100 %)"
    assert [line.split("(")[1] for line in lines] == ["0 %)", "25 %)", "50 %)", "75 %)", "100 %)"]
    assert upload.said


def test_a_live_upload_says_where_it_is_at_most_every_interval() -> None:
    now = [0.0]
    lines: list[str] = []
    upload = ByteProgress("resnet18.onnx", lines.append, live=True, interval_s=0.25, clock=lambda: now[0])
    for sent, total in sftp_calls(45 * MB):  # ~1400 calls, 0.01 s apart: 14 s
        now[0] += 0.01
        upload(sent, total)
    assert 50 <= len(lines) <= 60  # ~4 a second, not one a chunk
    assert lines[-1] == "uploading resnet18.onnx 45.0/45.0 MB (100 %)"


def test_a_small_file_says_nothing() -> None:
    lines: list[str] = []
    upload = ByteProgress("inputs.npz", lines.append, live=False)
    for sent, total in sftp_calls(200_000):
        upload(sent, total)
    assert not lines and not upload.said


class _Client:
    """The agent's side of ``Transport.send``: the artifact is missing until it is uploaded."""

    def __init__(self) -> None:
        self.stored: set[str] = set()

    def has_artifact(self, sha256: str) -> bool:
        return sha256 in self.stored

    def upload(self, path: Path, sha256: str) -> int:
        self.stored.add(sha256)
        return path.stat().st_size


class _Plain(Transport):
    name = "plain"

    def open(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


def test_a_transport_that_sends_a_file_whole_says_its_start_and_end(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\0" * 2 * MB)
    lines: list[str] = []
    client = _Client()
    transport = _Plain(SimpleNamespace(id="b", agent=None, measure=None, connection=None))
    assert transport.send(client, path, "a" * 64, ByteProgress(path.name, lines.append)) == 2 * MB  # type: ignore[arg-type]
    assert lines == ["uploading model.onnx 0.0/2.0 MB (0 %)", "uploading model.onnx 2.0/2.0 MB (100 %)"]
    assert transport.send(client, path, "a" * 64, ByteProgress(path.name, lines.append)) == 0  # type: ignore[arg-type]
    assert len(lines) == 2  # already on the board: nothing sent, nothing said


def test_the_ssh_transport_hands_its_progress_to_paramikos_put(tmp_path: Path) -> None:
    from testbed.transports.ssh import SshTransport

    calls: list[tuple[int, int]] = []

    class Sftp:
        def put(self, local: str, remote: str, callback: Any = None) -> None:
            for sent, total in sftp_calls(Path(local).stat().st_size):
                callback(sent, total)

        def posix_rename(self, old: str, new: str) -> None:
            pass

    transport = SshTransport.__new__(SshTransport)
    transport._sftp = Sftp()  # type: ignore[assignment]
    transport.profile = SimpleNamespace(id="pi4")  # type: ignore[assignment]
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\0" * 100_000)
    transport.put(path, "/store/x", lambda sent, total: calls.append((sent, total)))
    assert calls[-1] == (100_000, 100_000) and len(calls) == 4


def test_a_boards_status_lines_in_a_log_name_the_cell_and_the_upload() -> None:
    console, buf = _log()
    runner = CellRunner.__new__(CellRunner)
    runner.ctx = SimpleNamespace(ui=LineUI(console))  # type: ignore[assignment]
    runner.device, runner.done, runner.cells = "pi4", 4, [object()] * 18
    step = runner._step("measuring digits_cnn onnx-torch-fp32 t2")
    upload = ByteProgress("model.onnx", step, live=getattr(runner.ctx.ui, "live", False))
    for sent, total in sftp_calls(3_400_000):
        upload(sent, total)
    step("running")
    lines = buf.getvalue().splitlines()
    assert lines[0] == "[pi4] 4/18 measuring digits_cnn onnx-torch-fp32 t2: uploading model.onnx 0.0/3.4 MB (0 %)"
    assert lines[4].endswith("3.4/3.4 MB (100 %)") and lines[5] == "[pi4] 4/18 measuring digits_cnn onnx-torch-fp32 t2: running"
    assert len(lines) == 6


def test_which_uis_are_live() -> None:
    console, _ = _log()
    assert not SilentUI.live and not LineUI(console).live and RichUI(console).live
    assert StatusUI(print, print).live and not StatusUI(print, print, live=False).live


class _Pool(ThreadPoolExecutor):
    """The process pool's stand-in: threads, the same arguments accepted."""

    def __init__(self, jobs: int, mp_context: Any = None, initializer: Any = None) -> None:
        super().__init__(jobs)


def test_conversions_are_counted_in_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    from testbed.converters import cache

    pairs = [("digits_cnn", "onnx-torch-fp32"), ("digits_cnn", "tflite-keras-fp32"), ("digits_cnn", "cached-one")]
    monkeypatch.setattr(cache, "lookup", lambda conv, model: SimpleNamespace(status="ok") if conv == "cached-one"
                        else None)
    monkeypatch.setattr(artifacts, "ProcessPoolExecutor", _Pool)
    both = threading.Barrier(2)  # the two conversions finish together: one wait() sees both done

    def convert(model: str, conv: str) -> SimpleNamespace:
        both.wait(timeout=10)
        return SimpleNamespace(status="ok", converter=conv)

    monkeypatch.setattr(artifacts, "_convert", convert)
    monkeypatch.setenv("TESTBED_CONVERT_JOBS", "2")
    console, buf = _log()
    ui = LineUI(console)
    conversions = artifacts.Conversions({"digits_cnn": object()}, pairs, ui.message)
    ready = [pair for pair, _ in conversions.ready(threading.Event())]
    assert sorted(ready) == sorted(pairs)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "converting 2 variant(s) in 2 process(es) (1 more from the cache)"
    assert [line.split(":")[0] for line in lines[1:]] == ["converted 1/2", "converted 2/2"]
    assert {line.split(": ")[1] for line in lines[1:]} == {"digits_cnn with onnx-torch-fp32",
                                                          "digits_cnn with tflite-keras-fp32"}


def test_convert_counts_its_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    import testbed.converters
    from testbed import convert

    convs = [SimpleNamespace(name=n, source="pytorch") for n in ("onnx-torch-fp32", "tflite-torch-fp32")]
    monkeypatch.setattr(convert, "choose", lambda *a: convert.Selection(convs))
    monkeypatch.setattr(testbed.converters, "build", lambda conv, model: SimpleNamespace(
        ok=True, to_dict=lambda: {"converter": conv.name, "status": "ok"}))
    monkeypatch.setattr(convert, "check", lambda art, model, refs: {
        "parity": None, "parity_outputs": None, "accuracy": None, "input_dtype_changes": None, "error": None})
    lines: list[str] = []
    convert.convert_matrix("digits_cnn", None, None, None, progress=lines.append)
    assert lines == ["converting 1/2: digits_cnn with onnx-torch-fp32", "checking 1/2: onnx-torch-fp32 against pytorch",
                     "converting 2/2: digits_cnn with tflite-torch-fp32",
                     "checking 2/2: tflite-torch-fp32 against pytorch"]


def test_a_status_line_off_a_terminal_prints_each_new_text_on_its_console_only(
        capsys: pytest.CaptureFixture[str]) -> None:
    console, buf = _log()
    assert not console.is_terminal
    with status_line(console) as update:
        for text in ("converting 1/2: a", "converting 1/2: a", "uploading x.onnx 1.0/2.0 MB (50 %)", "[not] markup"):
            update(text)
    assert buf.getvalue().splitlines() == ["converting 1/2: a", "uploading x.onnx 1.0/2.0 MB (50 %)", "[not] markup"]
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # only the console given (a deploy's: stderr); stdout stays JSON


def test_a_status_line_on_a_terminal_is_a_spinner_not_lines() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=80)
    with status_line(console) as update:
        update("converting 1/2: a")
        update("converting 2/2: b")
    out = buf.getvalue()
    assert "\x1b[" in out  # redrawn in place
    assert "converting 1/2: a" not in out.splitlines()  # not a plain line
