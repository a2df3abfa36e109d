"""``/v1/info``: machine facts and runtime probes."""

from __future__ import annotations

from pathlib import Path

from testbed_agent.info import agent_info, board_model, cpu_model

X86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 1\nmodel name\t: AMD EPYC 7B13\n"
PI4 = ("processor\t: 0\nBogoMIPS\t: 108.00\nCPU part\t: 0xd08\n\nHardware\t: BCM2835\n"
       "Revision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n")


def test_cpu_model(tmp_path: Path) -> None:
    (tmp_path / "x86").write_text(X86)
    (tmp_path / "pi").write_text(PI4)
    assert cpu_model(tmp_path / "x86") == "AMD EPYC 7B13"
    assert cpu_model(tmp_path / "pi") == "Raspberry Pi 4 Model B Rev 1.4"


def test_board_model(tmp_path: Path) -> None:
    (tmp_path / "model").write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\x00")
    assert board_model(tmp_path / "model") == "NVIDIA Jetson Orin Nano Developer Kit"
    assert board_model(tmp_path / "missing") is None


def test_agent_info() -> None:
    info = agent_info()
    assert info["agent_version"] == "0.1.0" and info["cores"] >= 1 and info["memory_bytes"] > 0
    assert set(info["runtimes"]) == {"litert", "onnxruntime", "executorch", "executorch-native", "pytorch", "tensorflow"}
    for probe in info["runtimes"].values():
        assert set(probe) == {"available", "version", "reason"}
