"""`testbed doctor`'s judgement on fixture facts: one line per check, every problem with its fix.
(The facts are gathered from real boards in tests/integration/test_lab.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from testbed.fleet.doctor import evaluate, has_problems
from testbed.fleet.probe import BoardFacts
from testbed.profiles import Profile

INFO: dict[str, Any] = {
    "hostname": "pi4", "runtimes": {"litert": {"available": True, "version": "2.3.0", "reason": None},
                                    "onnxruntime": {"available": True, "version": "1.32.0", "reason": None}},
    "power": {"ina219": {"available": False, "reason": "no I2C bus 1"},
              "estimate": {"available": True, "reason": None}},
}


def profile(**kw: Any) -> Profile:
    data = {"id": "pi4", "transport": "ssh", "ssh": {"host": "pi4.local"}, "runtimes": ["litert", "onnxruntime"]}
    data.update(kw)  # a key given as None is left out (a local profile has no ssh: section)
    return Profile.model_validate({k: v for k, v in data.items() if v is not None})


def healthy(**kw: Any) -> BoardFacts:
    facts = BoardFacts(
        device="pi4", transport="ssh", where="pi@10.0.0.7:22", reachable=True, host_key_known=True,
        known_hosts="/home/me/.ssh/known_hosts", known_hosts_name="10.0.0.7", ssh_s=0.2,
        python_exists=True, python="/home/pi/testbed-agent/venv/bin/python", installed_version="0.1.0",
        runtimes_installed={k: dict(v) for k, v in INFO["runtimes"].items()},
        running=True, running_pid=1234, running_version="0.1.0", info=INFO, host_version="0.1.0",
        governors=["performance"], temperatures_c={"cpu-thermal": 48.0}, disk_path="/home/pi",
        disk_free_bytes=20 << 30, clock_skew_s=0.05, clock_uncertainty_s=0.01)
    for key, value in kw.items():
        setattr(facts, key, value)
    return facts


def problems(prof: Profile, facts: BoardFacts) -> list:
    return [f for f in evaluate(prof, facts) if f.problem]


def test_a_healthy_board_has_no_problem() -> None:
    findings = evaluate(profile(), healthy())
    assert not has_problems(findings, strict=True)
    assert [f.check for f in findings] == ["ssh", "host-key", "agent", "runtime:litert", "runtime:onnxruntime",
                                           "power", "governor", "temperature", "disk", "clock"]


@pytest.mark.parametrize("facts, check, words, fix", [
    (healthy(running=False, running_pid=None, running_version=None, info=None),
     "agent", "not running", "testbed agent start --device pi4"),
    (healthy(python_exists=False, installed_version=None), "agent", "not installed", "testbed agent install --device pi4"),
    (healthy(installed_version=None), "agent", "not importable", "testbed agent install --device pi4"),
    (healthy(installed_version="0.0.9", running_version="0.0.9"), "agent", "differs from this host's 0.1.0",
     "testbed agent install --device pi4"),
    (healthy(running_version="0.0.9"), "agent", "is not the installed", "testbed agent restart --device pi4"),
    (healthy(health_error="did not answer GET /v1/health"), "agent", "does not answer", "testbed agent restart"),
])
def test_agent_problems(facts: BoardFacts, check: str, words: str, fix: str) -> None:
    found = problems(profile(), facts)
    assert found and found[0].check == check and words in found[0].message and fix in found[0].fix


def test_missing_runtime_from_info_or_from_the_venv() -> None:
    info = {**INFO, "runtimes": {**INFO["runtimes"], "onnxruntime": {
        "available": False, "version": None, "reason": "python module onnxruntime is not installed"}}}
    found = problems(profile(), healthy(info=info))
    assert [f.check for f in found] == ["runtime:onnxruntime"]
    assert "(from /v1/info)" in found[0].message and "not installed" in found[0].message
    assert found[0].fix.startswith("testbed agent install --device pi4")
    # uninstalled after the agent started: its /v1/info still says available, the venv does not
    fresh = healthy()
    fresh.runtimes_installed["litert"] = {"available": False, "version": None, "reason": "gone"}
    assert [f.check for f in problems(profile(), fresh)] == ["runtime:litert"]
    # a runtime the profile lists but the agent does not know at all
    found = problems(profile(runtimes=["executorch"]), healthy())
    assert found[0].check == "runtime:executorch" and "testbed agent install" in found[0].fix


def test_ssh_problems_stop_the_checks_that_need_ssh() -> None:
    unknown = healthy(ssh_error_kind="hostkey-unknown", host_key_known=False,
                      host_key_fingerprint="ssh-ed25519 SHA256:abc",
                      keyscan="ssh-keyscan -p 22 10.0.0.7 >> /home/me/.ssh/known_hosts")
    found = evaluate(profile(), unknown)
    assert [f.level for f in found] == ["fail"] and found[0].check == "host-key"
    assert "SHA256:abc" in found[0].message and "ssh-keyscan -p 22 10.0.0.7" in found[0].fix
    assert "trust_on_first_use" in found[0].fix
    changed = evaluate(profile(), healthy(ssh_error_kind="hostkey-changed"))
    assert "ssh-keygen -f /home/me/.ssh/known_hosts -R '10.0.0.7'" in changed[0].fix
    down = evaluate(profile(), healthy(ssh_error_kind="unreachable", ssh_error="connecting to pi@10.0.0.7:22 "
                                       "timed out after 10 s (ssh.connect_timeout_s)"))
    assert len(down) == 1 and "timed out" in down[0].message and "ssh.host" in down[0].fix
    auth = evaluate(profile(), healthy(ssh_error_kind="auth", ssh_error="SSH login refused"))
    assert [f.check for f in auth if f.problem] == ["ssh-login"] and "ssh-copy-id" in auth[-1].fix


def test_power_sensors() -> None:
    assert problems(profile(power={"sensors": ["estimate"]}), healthy()) == []
    found = problems(profile(power={"sensors": ["ina219"]}), healthy())
    assert found[0].level == "fail" and "no I2C bus 1" in found[0].message and "power.sensors" in found[0].fix
    found = problems(profile(power={"sensors": ["ina219", "estimate"]}), healthy())
    assert found[0].level == "warn" and "using estimate" in found[0].message


@pytest.mark.parametrize("change, check, level", [
    ({"governors": ["ondemand"]}, "governor", "warn"),
    ({"governors": ["performance", "powersave"]}, "governor", "warn"),
    ({"temperatures_c": {"cpu-thermal": 74.0}}, "temperature", "warn"),
    ({"temperatures_c": {"cpu-thermal": 50.0, "gpu-thermal": 85.5}}, "temperature", "fail"),
    ({"disk_free_bytes": 1536 << 20}, "disk", "warn"),
    ({"disk_free_bytes": 200 << 20}, "disk", "fail"),
    ({"clock_skew_s": 2.5}, "clock", "warn"),
    ({"clock_skew_s": -42.0}, "clock", "fail"),
])
def test_machine_problems(change: dict, check: str, level: str) -> None:
    found = problems(profile(), healthy(**change))
    assert [(f.check, f.level) for f in found] == [(check, level)]
    assert found[0].fix
    assert has_problems(found, strict=True) and has_problems(found) == (level == "fail")


def test_unknown_machine_facts_are_not_problems() -> None:
    facts = healthy(governors=None, temperatures_c=None, disk_free_bytes=None, clock_skew_s=None)
    assert problems(profile(), facts) == []


def test_one_line_per_problem_with_its_fix() -> None:
    facts = healthy(running=False, info=None, governors=["ondemand"])
    lines = [f.line() for f in evaluate(profile(), facts) if f.problem]
    assert len(lines) == 2 and all("\n" not in ln and " -> fix: " in ln for ln in lines)
    assert lines[0].startswith("FAIL agent") and lines[1].startswith("WARN governor")


def local_facts(**kw: Any) -> BoardFacts:
    facts = BoardFacts(device="local", transport="local", where="this machine", reachable=True,
                       host_key_known=True, python_exists=True, python="/venv/bin/python",
                       installed_version="0.1.0", host_version="0.1.0", info=INFO,
                       runtimes_installed={k: dict(v) for k, v in INFO["runtimes"].items()},
                       governors=["performance"], temperatures_c={"x86_pkg_temp": 45.0}, disk_path="/home/me",
                       disk_free_bytes=20 << 30)
    for key, value in kw.items():
        setattr(facts, key, value)
    return facts


def test_local_profile_gets_the_board_checks() -> None:
    """Issue 11: `doctor --device local` checked the transport only."""
    local = profile(id="local", transport="local", ssh=None, power={"sensors": ["estimate"]})
    findings = evaluate(local, local_facts())
    assert [f.check for f in findings] == ["transport", "agent", "runtime:litert", "runtime:onnxruntime",
                                           "power", "governor", "temperature", "disk", "clock"]
    assert not has_problems(findings, strict=True)


@pytest.mark.parametrize("facts, check, words, fix", [
    (local_facts(installed_version=None), "agent", "not importable by /venv/bin/python", "make install"),
    (local_facts(info={**INFO, "runtimes": {"onnxruntime": INFO["runtimes"]["onnxruntime"],
                                            "litert": {"available": False, "reason": "No module named x"}}}),
     "runtime:litert", "No module named x", "/venv/bin/python -m pip install 'testbed[litert]'"),
    (local_facts(governors=["powersave"]), "governor", "powersave", "scaling_governor"),
    (local_facts(temperatures_c={"x86_pkg_temp": 85.0}), "temperature", "85 °C", "cool down"),
    (local_facts(disk_free_bytes=1 << 29), "disk", "0.5 GiB free", "free space"),
])
def test_local_profile_problems_name_a_local_fix(facts: BoardFacts, check: str, words: str, fix: str) -> None:
    local = profile(id="local", transport="local", ssh=None, power={"sensors": ["estimate"]})
    found = [f for f in problems(local, facts) if f.check == check]
    assert found and words in found[0].message and fix in (found[0].fix or "")
    assert "testbed agent install" not in (found[0].fix or "")


def test_offline_board_fix_names_its_wheelhouse() -> None:
    """Issue 11: doctor suggested `testbed agent install --device lab1`, which fails on a board that
    reaches no index; a profile with agent.wheelhouse gets the command that works offline."""
    lab = profile(id="lab1", agent={"python": "/lab/venv/bin/python", "wheelhouse": "/root/.testbed/wheelhouse"})
    found = [f for f in problems(lab, healthy(python_exists=False, installed_version=None)) if f.check == "agent"]
    assert found[0].fix == "testbed agent install --device lab1 --wheelhouse /root/.testbed/wheelhouse"
    bad_rt = healthy(info={**INFO, "runtimes": {"litert": {"available": False, "reason": "gone"},
                                                 "onnxruntime": INFO["runtimes"]["onnxruntime"]}})
    found = [f for f in problems(lab, bad_rt) if f.check == "runtime:litert"]
    assert "--wheelhouse /root/.testbed/wheelhouse" in (found[0].fix or "")


def test_install_summary_says_how_the_agent_really_runs() -> None:
    from testbed.commands.agent import service_line
    from testbed.fleet.install_options import InstallReport

    process = InstallReport(device="lab1", service="process", service_note="no systemd on the board",
                            unit_file="/h/testbed-agent.service")
    line = service_line(process)
    assert line.startswith("runs as a background process (no systemd on the board)") and "enabled" not in line
    unit = InstallReport(device="pi4", service="systemd-user", unit_file="/h/testbed-agent.service",
                         unit_path="/home/pi/.config/systemd/user/testbed-agent.service")
    assert service_line(unit).startswith("systemd-user unit /home/pi/.config/systemd/user/testbed-agent.service")
