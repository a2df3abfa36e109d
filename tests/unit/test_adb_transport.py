"""The adb transport against a stand-in phone (no Android device can exist on the build machines).

The stand-in answers the few shell commands the transport sends and plays back the native tools'
output samples from tests/fixtures/android/ - the same text the real tools print."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from testbed import profiles, records
from testbed.errors import ConfigError
from testbed.transports import get

FIX = Path(__file__).parents[1] / "fixtures" / "android"


class StandInPhone:
    """Files pushed are remembered; tool binaries print their recorded output."""

    def __init__(self, outputs: dict[str, str]) -> None:
        self.files: dict[str, bytes] = {}
        self.commands: list[str] = []
        self.outputs = outputs

    def push(self, local: str, remote: str) -> None:
        self.files[remote] = Path(local).read_bytes()

    def shell(self, cmd: str, timeout: float | None = None) -> str:
        self.commands.append(cmd)
        words = shlex.split(cmd)
        if words[0] == "getprop":
            return {"ro.product.model": "Pixel 7", "ro.product.cpu.abi": "arm64-v8a",
                    "ro.build.version.release": "14"}[words[1]] + "\n"
        if words[0] == "test":
            return "yes\n" if words[2] in self.files else ""
        if words[0] in ("mkdir", "chmod", "true"):
            return ""
        tool = Path(words[0]).name.rsplit("-", 1)[0]
        return self.outputs[tool]


def profile(tmp_path: Path, tools: dict[str, Path]) -> profiles.Profile:
    lines = "\n".join(f"    {name}: {path}" for name, path in tools.items())
    path = tmp_path / "phone.yaml"
    path.write_text(f"id: phone\ntransport: adb\nadb:\n  tools:\n{lines}\n")
    return profiles.load(str(path))


def test_phone_measures_with_the_native_tool_and_says_it_is_a_summary(tmp_path: Path) -> None:
    tool = tmp_path / "benchmark_model"
    tool.write_bytes(b"\x7fELF stand-in")
    phone = StandInPhone({"benchmark_model": (FIX / "benchmark_model_mobilenet_v2_xnnpack.txt").read_text()})
    transport = get("adb")(profile(tmp_path, {"benchmark_model": tool}), device=phone)
    board = transport.open()
    info = board.info()
    assert info["board"] == "Pixel 7" and info["runtimes"]["litert"]["available"]
    assert not info["runtimes"]["onnxruntime"]["available"]
    assert "onnxruntime_perf_test" in info["runtimes"]["onnxruntime"]["reason"]

    artifact = tmp_path / "m.tflite"
    artifact.write_bytes(b"tflite bytes")
    assert transport.send(board, artifact, "ab" * 32) == len(b"tflite bytes")
    assert transport.send(board, artifact, "ab" * 32) == 0  # already on the phone: nothing sent

    run = board.wait_run(board.start_run({"runtime": "litert", "artifact_sha256": "ab" * 32,
                                          "warmup": 5, "iterations": 50, "threads": 4}), 60)
    assert run["state"] == "done"
    cmd = next(c for c in phone.commands if "--graph=" in c)
    assert "--num_runs=50" in cmd and "--num_threads=4" in cmd and "/data/local/tmp/testbed/" + "ab" * 32 in cmd

    record = {"latency_ms": None}
    samples, _ = records.add_measurement(record, run["result"], None, None)
    assert samples == []  # the tool gives no raw samples, and none are invented
    assert record["latency_ms"]["mean"] == pytest.approx(13.0048) and record["latency_ms"]["n"] == 77
    assert record["latency_source"] == "benchmark_model summary (no raw samples)"


def test_tool_failure_is_a_failed_run_with_the_tools_reason(tmp_path: Path) -> None:
    tool = tmp_path / "executor_runner"
    tool.write_bytes(b"stand-in")
    phone = StandInPhone({"executor_runner": (FIX / "executor_runner_failed.txt").read_text()})
    board = get("adb")(profile(tmp_path, {"executor_runner": tool}), device=phone).open()
    run = board.get_run(board.start_run({"runtime": "executorch", "artifact_sha256": "cd" * 32}))
    assert run["state"] == "failed" and "Program identifier 'ZZZZ' != expected 'ET12'" in run["error"]


def test_missing_tool_binary_is_a_config_error(tmp_path: Path) -> None:
    prof = profile(tmp_path, {"benchmark_model": tmp_path / "nope"})
    with pytest.raises(ConfigError, match="adb.tools.benchmark_model"):
        get("adb")(prof, device=StandInPhone({})).open()
