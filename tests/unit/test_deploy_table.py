"""The deploy table fits the terminal: the default columns within 120 characters, --columns and --wide,
failed variants listed under the table with their whole reason, estimates labelled where they cannot
fall off. Rendered with rich as `testbed deploy` renders it, from records in the stored format."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from testbed.errors import ConfigError
from testbed.report import table
from testbed.report.deploy_columns import BY_KEY, COLUMNS, DEFAULT, select

FIXTURE = Path(__file__).parents[1] / "fixtures" / "records" / "v6.json"
#: digits_cnn's variants on the local profile (the longest names of the zoo), with their runtimes
VARIANTS = [("executorch-portable-fp32", "executorch"), ("executorch-xnnpack-fp32", "executorch"),
            ("executorch-xnnpack-int8-static", "executorch"), ("onnx-keras-fp32", "onnxruntime"),
            ("onnx-keras-int8-dynamic", "onnxruntime"), ("onnx-torch-int8-static", "onnxruntime"),
            ("pytorch-export-fp32", "pytorch"), ("tensorflow-savedmodel-fp32", "tensorflow"),
            ("tflite-keras-fp16", "litert"), ("tflite-torch-int8-static", "litert")]
REASON = ("LiteRT refused the model: tensorflow/lite/kernels/fully_connected.cc:360 NumInputs(node) != 2 (3 != 2); "
          "Node number 4 (FULLY_CONNECTED) failed to prepare. Failed to apply the default TensorFlow Lite delegate "
          "indexed at 0, the model stays on the reference kernels: the end of this reason must still be printed")
TITLE = ("/home/someone/projects/edge-models/voice_activity_detector_v3_final.onnx#audio=1,16000;state=2,1,128 on "
         "local  (run 20261130-122146-9d84, stored in sqlite:////tmp/tmp.k2Jx8Qw1/results.db)")
ESTIMATE = {"sensor": "estimate", "estimated": True, "active_w": 45.0, "idle_w": 10.0,
            "energy_mj_per_inference": 13.7, "what": "ESTIMATE from CPU utilisation: 10.0 W idle .. 45.0 W busy"}


def record(converter: str, runtime: str, **changes: object) -> dict:
    r = json.loads(FIXTURE.read_text())
    r.update(converter=converter, runtime=runtime, model=TITLE.split(" on ")[0], size_bytes=133_120, load_ms=213.8)
    r["latency_ms"].update(p50=43.996, p99=213.812, n=1621)  # the widest figures seen (pytorch baseline)
    r.update(changes)
    return r


def rows(power: dict | None = None) -> list[dict]:
    out = [record(name, runtime, power=copy.deepcopy(power or ESTIMATE)) for name, runtime in VARIANTS]
    out.append(record("tflite-torch-int8-dynamic", "litert", status="failed", error=REASON, latency_ms=None,
                      power=None, parity=None, accuracy=None, model_memory_mb=None, peak_rss_mb=None, load_ms=None))
    return out


def longest(lines: list[str]) -> int:
    """In UTF-8 bytes, as `awk length` (mawk) counts: never fewer than the terminal's cells."""
    return max(len(line.encode()) for line in lines)


def printed(records: list[dict], width: int, columns: list | None = None) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    table.render(records, TITLE, console, columns)
    return console.export_text().splitlines()


def test_default_table_fits_120_columns_with_every_default_column() -> None:
    lines = printed(rows(), 120)
    assert longest(lines) <= 120, [line for line in lines if len(line.encode()) > 120]
    text = "\n".join(lines)
    for name, _ in VARIANTS:  # each variant whole, on one line of its own
        assert sum(line.split()[0] == name for line in lines if line.split()) == 1, name
    header = "\n".join(lines[:lines.index(next(line for line in lines if line.startswith("-")))])
    for word in ("Variant", "Runtime", "Size", "Load", "p50", "±CI", "p99", "Model", "Accuracy", "Agreement",
                 "Energy", "(mJ/inf)", "(ms)", "(KB)", "(MB)"):
        assert word in header, word
    assert "Status" not in header  # every measured variant is ok: the column says nothing
    assert "Not shown" not in text


def test_an_estimate_says_so_in_the_header_and_a_note_that_is_always_printed() -> None:
    for width in (80, 120, 240):
        lines = printed(rows(), width)
        text = "\n".join(lines)
        assert "ESTIMATED" in text, width  # the power note, wrapped but never cut
        if "Energy" in text.split("\n-")[0]:
            assert "est." in text.split("\n-")[0], width  # the header carries the caveat
    one_line = "\n".join(printed(rows(), 240))
    assert "Energy (mJ/inf) est." in one_line


def test_estimates_mixed_with_measurements_are_marked_in_their_cells() -> None:
    records = rows()
    records[0]["power"] = {**ESTIMATE, "sensor": "ina219", "estimated": False}
    cells = BY_KEY["energy"].cells([r for r in records if r["status"] == "ok"])
    assert not cells[0].endswith("est.") and all(c.endswith(" est.") for c in cells[1:])
    assert BY_KEY["energy"].parts(records)[-1] == "est."


def test_failed_variant_is_listed_under_the_table_with_its_whole_reason() -> None:
    lines = printed(rows(), 120)
    rule = next(i for i, line in enumerate(lines) if line.startswith("-"))
    failed_at = next(i for i, line in enumerate(lines) if line.startswith("Failed"))
    assert failed_at > rule and "1 of 11 variants" in lines[failed_at]
    table_rows = lines[rule + 1:failed_at]
    assert len(table_rows) == len(VARIANTS) and not any("tflite-torch-int8-dynamic" in ln for ln in table_rows)
    listed = " ".join(" ".join(lines[failed_at + 1:]).split())
    assert "tflite-torch-int8-dynamic (litert): " + " ".join(REASON.split()) in listed


def test_title_and_notes_wrap_within_the_width() -> None:
    for width in (60, 80, 120):
        lines = printed(rows(), width)
        assert longest(lines) <= width, (width, [line for line in lines if len(line.encode()) > width])
    text = " ".join(" ".join(printed(rows(), 120)).split())
    assert "voice_activity_detector_v3_final.onnx" in text and "run 20261130-122146-9d84" in text


def test_a_narrow_terminal_drops_the_last_default_columns_and_says_which() -> None:
    lines = printed(rows(), 80)
    text = " ".join(" ".join(lines).split())
    note = text[text.index("Not shown"):text.index("Failed")]
    assert "(80 columns)" in note and "model-mem, energy" in note and "--wide" in note
    for name, _ in VARIANTS:
        assert any(line.split() and line.split()[0] == name for line in lines), name
    assert any("p50" in line for line in lines[:4])  # the core stays


def test_columns_picks_in_its_order_after_the_variant() -> None:
    picked = select("p99, n,load")
    assert picked is not None and [c.key for c in picked] == ["variant", "p99", "n", "load"]
    assert select(None) is None
    lines = printed(rows(), 120, picked)
    header = next(line for line in lines if line.startswith("Variant"))
    assert header.split() == ["Variant", "p99", "(ms)", "n", "Load", "(ms)"]


def test_unknown_column_is_one_line_naming_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        select("p50,latency")
    message = str(err.value)
    assert "\n" not in message and "'latency'" in message
    assert all(c.key in message for c in COLUMNS)


def test_wide_shows_every_column_split_to_fit() -> None:
    for width in (120, 400):
        lines = printed(rows(), width, select(wide=True))
        assert longest(lines) <= width
        headers = " ".join(lines[:next(i for i, ln in enumerate(lines) if ln.startswith("Failed"))])
        for word in ("Target", "p90", "Peak", "Parity", "Power", "Cached", "Status", "Energy"):
            assert word in headers, (width, word)
    tables = [line for line in printed(rows(), 120, select(wide=True)) if line.startswith("Variant")]
    assert len(tables) == 2  # too wide for one table at 120: two, each starting with the variant
    assert len([line for line in printed(rows(), 400, select(wide=True)) if line.startswith("Variant")]) == 1


def test_a_throttled_variant_brings_the_status_column_back() -> None:
    records = rows()
    records[2]["thermal"] = {**records[2]["thermal"], "throttled": True, "throttle_reasons": ["soft temp limit"]}
    lines = printed(records, 120)
    assert any("Status" in line for line in lines[:5]) and any("throttled" in line for line in lines)


def test_the_default_set_is_what_the_help_lists() -> None:
    from testbed.cli import main

    result = CliRunner().invoke(main, ["deploy", "--help"], terminal_width=200)
    help_text = " ".join(result.output.split())
    assert "--wide" in help_text and all(key in help_text for key in DEFAULT)


def test_unknown_column_fails_before_anything_runs(isolated_home: Path) -> None:
    from testbed.cli import main

    result = CliRunner().invoke(main, ["deploy", "--device", "local", "--model", "digits_cnn", "--columns", "p50,bogus"])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown column 'bogus'" in lines[0] and "known: variant" in lines[0]
    assert not (isolated_home / "results.db").exists()


def test_out_console_honours_COLUMNS(monkeypatch: pytest.MonkeyPatch) -> None:
    from testbed.commands._common import out_console

    monkeypatch.setenv("COLUMNS", "120")
    assert out_console().width == 120 and out_console(stderr=True).width == 120
    monkeypatch.delenv("COLUMNS")
    assert out_console().width == 240  # a pipe (pytest's capture) without COLUMNS: a wide log, not 80


def test_lines_fit_counted_in_bytes_as_awk_counts_them() -> None:
    """An en dash ("no value") is 3 bytes, ± and Δ 2: rows full of them, a reason in typographic
    quotes and a thermal note in °C still fit, measured as `awk length` measures."""
    records = rows()
    for r in records[:-1]:
        r["latency_ms"].update(p99=None, ci_pct=None)
        r.update(load_ms=None, model_memory_mb=None)
    records[-1]["error"] = "‘tflite’ → ‘litert’: |Δ| ± 1e-3 exceeded … " * 6
    for width in (80, 120):
        for columns in (None, select(wide=True)):
            lines = printed(records, width, columns)
            assert longest(lines) <= width, (width, [line for line in lines if len(line.encode()) > width])


def test_trust_and_roofline_columns_and_the_reason_of_each_result_that_is_not_steady() -> None:
    records = rows()
    for i, r in enumerate(records[:-1]):
        r["trust"] = {"verdict": "steady", "reasons": []}
        r["roofline"] = {"achieved_gflops": 12.345 * (i + 1), "pct_of_peak": 3.21 * (i + 1),
                         "bound": "compute" if i % 2 else "memory"}
    records[3]["trust"] = {"verdict": "contended", "reasons": ["other processes used 180 % of a CPU [mean]"]}
    lines = printed(records, 120)
    assert longest(lines) <= 120, "\n".join(lines)
    text = "\n".join(lines)
    header = next(line for line in lines if "Variant" in line)
    assert "Trust" in header, text
    contended = next(line for line in lines if line.startswith("onnx-keras-fp32"))
    assert "contended" in contended, text
    assert "contended onnx-keras-fp32: other processes used 180 % of a CPU [mean]" in text  # the reason, escaped
    wide = "\n".join(printed(records, 400, select("peak-pct,gflops")))
    assert "3.2 M" in wide and "6.4 C" in wide and "12.3" in wide and "% of peak" in wide, wide


def test_records_from_before_the_verdicts_show_no_trust_or_roofline_columns() -> None:
    header = next(line for line in printed(rows(), 200) if "Variant" in line)
    assert "Trust" not in header and "GFLOP/s" not in header and "peak" not in header
