"""An emulated aarch64 board end to end (nightly, marker ``slow``; `make test-arm64`):

`testbed lab up --arch arm64` boots Debian's arm64 kernel and a debootstrap root filesystem under
``qemu-system-aarch64 -M virt -cpu cortex-a72`` (image built once and cached in
``~/.cache/testbed/lab-arm64``: the first run takes several minutes more), inside a lab namespace
whose 198.18.x.y address forwards port 22 to the guest's sshd. Then, with no mock anywhere:
`testbed agent install` downloads the *aarch64* wheels on the host (PyPI) and installs them in a venv
on the guest, with a systemd unit (the guest runs systemd); `testbed deploy` measures digits_cnn there
over real SSH with host-key checking, every result labelled emulated; `lab down` leaves nothing.

Needs root, `ip netns`, qemu-system-arm, qemu-user-static + binfmt_misc and a Debian mirror for the
first build (scripts/install-system-deps.sh --arm64).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import netns
from helpers.cli import run

REASON = netns.skip_reason()  # a missing qemu is a failure (tests/conftest.py), not a skip
pytestmark = [pytest.mark.integration, pytest.mark.lab, pytest.mark.slow,
              pytest.mark.skipif(REASON is not None, reason=f"arm64 lab: {REASON}")]

LONG = 3600.0


def board_sh(profile: Path, command: str, timeout_s: float = 300) -> tuple[int, str]:
    from testbed import profiles
    from testbed.transports.ssh import SshTransport

    with SshTransport(profiles.load(str(profile))) as t:
        t.connect()
        return t.exec(command, timeout_s=timeout_s)


@pytest.fixture(scope="module")
def arm_lab(testbed_home: Path) -> Iterator[dict]:
    proc = run("lab", "up", "--arch", "arm64", "--boards", "1", timeout=LONG)
    state_file = testbed_home / "lab" / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    try:
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield {"home": testbed_home, "state": state, "up": proc.stdout,
               "profile": testbed_home / "lab" / "profiles" / "lab1.yaml",
               "wheelhouse": testbed_home / "wheelhouse-arm64"}
    finally:
        down = run("lab", "down", timeout=300)
        assert down.returncode == 0, down.stderr
        if state.get("lab_id"):
            assert netns.leftovers(state["lab_id"], testbed_home / "lab") == []
        assert not state_file.exists()


@pytest.fixture(scope="module")
def installed(arm_lab: dict) -> dict:
    proc = run("agent", "install", "--device", "lab1", "--wheelhouse", str(arm_lab["wheelhouse"]), "--json",
               timeout=LONG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_the_board_is_a_real_aarch64_debian_behind_its_lab_address(arm_lab: dict) -> None:
    board = arm_lab["state"]["boards"][0]
    assert board["arch"] == "arm64" and board["vm_pid"]
    assert "emulated aarch64" in arm_lab["up"]
    code, out = board_sh(arm_lab["profile"], "uname -m; hostname; python3 -c 'import platform; "
                         "print(platform.machine())'; cat /proc/1/comm; cat /proc/cpuinfo | grep -m1 'CPU part'")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "aarch64" and lines[1] == "lab1" and lines[2] == "aarch64"
    assert lines[3] == "systemd"
    assert "0xd08" in lines[4]  # Cortex-A72's part number
    # QEMU runs in the board's namespace (the network cut of a native board applies as is)
    assert os.readlink(f"/proc/{board['vm_pid']}/ns/net") != os.readlink("/proc/self/ns/net")


def test_agent_install_puts_aarch64_wheels_and_a_systemd_unit_on_it(installed: dict, arm_lab: dict) -> None:
    assert installed["version"] and installed["service"] == "systemd-system"
    assert {"litert", "onnxruntime"} <= {k for k, v in installed["runtimes"].items() if v["available"]}
    wheels = [p.name for p in arm_lab["wheelhouse"].glob("*.whl")]
    assert any("onnxruntime" in w and "aarch64" in w for w in wheels), wheels
    code, out = board_sh(arm_lab["profile"], "systemctl is-active testbed-agent.service")
    assert code == 0 and out.strip() == "active", out


def test_deploy_digits_cnn_to_the_emulated_board(installed: dict, arm_lab: dict) -> None:
    proc = run("deploy", "--device", "lab1", "--model", "digits_cnn", "--quant", "fp32",
               "--formats", "onnx,tflite", "--iterations", "10", "--warmup", "2", timeout=LONG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "EMULATED board" in proc.stdout  # the table says its timings are an emulator's
    js = run("deploy", "--device", "lab1", "--model", "digits_cnn", "--quant", "fp32",
             "--formats", "onnx,tflite", "--iterations", "10", "--warmup", "2", "--json", timeout=LONG)
    assert js.returncode == 0, js.stderr[-3000:]
    records = json.loads(js.stdout)
    ok = [r for r in records if r["status"] == "ok"]
    assert {("onnx", "pytorch"), ("tflite", "keras")} <= {(r["format"], r["source"]) for r in ok}, \
        [(r["converter"], r["error"]) for r in records]
    for r in ok:
        assert r["latency_ms"]["n"] >= 10 and r["accuracy"] >= 0.9
        assert "qemu-system-aarch64" in r["measurement"]["emulated"]
        assert r["cached"] and r["bytes_sent"] == 0  # the first deploy sent them
