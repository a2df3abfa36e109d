"""Profiles: every shipped profile validates; a typo is an error naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import profiles
from testbed.errors import ConfigError
from testbed.paths import repo_root


@pytest.mark.parametrize("path", sorted((repo_root() / "profiles").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_profiles_validate(path: Path) -> None:
    prof = profiles.load(str(path))
    assert prof.id == path.stem


def test_required_profiles_exist() -> None:
    names = {p.stem for p in (repo_root() / "profiles").glob("*.yaml")}
    assert {"local", "pi4", "pi5", "jetson-orin-nano", "android"} <= names


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "board.yaml"
    bad.write_text("id: board\ntransport: ssh\nssh:\n  host: b\n  prot: 22\n")
    with pytest.raises(ConfigError) as err:
        profiles.load(str(bad))
    assert str(bad) in str(err.value) and "ssh.prot" in str(err.value) and "unknown key" in str(err.value)


def test_bad_value_names_key(tmp_path: Path) -> None:
    bad = tmp_path / "board.yaml"
    bad.write_text("id: board\ntransport: local\nthreads: 0\n")
    with pytest.raises(ConfigError, match="key 'threads'"):
        profiles.load(str(bad))


def test_ssh_transport_needs_ssh_section(tmp_path: Path) -> None:
    bad = tmp_path / "board.yaml"
    bad.write_text("id: board\ntransport: ssh\n")
    with pytest.raises(ConfigError, match="needs an 'ssh:' section"):
        profiles.load(str(bad))


def test_id_must_match_file_name(tmp_path: Path) -> None:
    bad = tmp_path / "board.yaml"
    bad.write_text("id: other\ntransport: local\n")
    with pytest.raises(ConfigError, match="does not match the file name"):
        profiles.load(str(bad))


def test_unknown_device_lists_where_it_looked() -> None:
    with pytest.raises(ConfigError, match="unknown device 'nope'"):
        profiles.load("nope")


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "board.yaml"
    path.write_text("id: board\ntransport: local\n" + text)
    return str(path)


def test_presets_and_overrides(tmp_path: Path) -> None:
    prof = profiles.load(write(tmp_path, "measure:\n  iterations: 80\n  max_s: 12\n"))
    m = prof.measure.effective()
    assert (m.preset, m.iterations, m.max_s, m.ci_target_pct) == ("default", 80, 12.0, 2.0)
    assert (m.warmup, m.warmup_min_s, m.min_s) == (10, 0.2, 0.5)  # the rest from the preset
    # --preset replaces this section's values; the command line's options go over everything.
    quick = prof.measure.effective("quick", iterations=30)
    assert (quick.preset, quick.iterations, quick.max_s, quick.ci_target_pct) == ("quick", 30, 5.0, 5.0)
    mlperf = prof.measure.effective("mlperf")
    assert (mlperf.iterations, mlperf.min_s, mlperf.ci_target_pct) == (1024, 60.0, None)
    assert prof.measure.effective(ci_target_pct=0).ci_target_pct is None  # 0 = off


def test_timeout_fits_max_s(tmp_path: Path) -> None:
    prof = profiles.load(write(tmp_path, "measure:\n  timeout_s: 100\n"))
    m = prof.measure.effective("mlperf", max_s=70)  # max_s 70 -> 70 + 60 + 60 = 190 s needed > 100
    assert m.timeout_s == 190.0 and m.timeout_auto is True
    assert prof.measure.effective().timeout_s == 130.0  # default: max_s 10 -> 130 s needed > 100
    assert prof.measure.effective("mlperf").timeout_s > 1200
    assert prof.measure.effective(timeout_s=40).timeout_s == 40
    with pytest.raises(ConfigError, match="--timeout 8 s must be longer than the runs' max_s"):
        prof.measure.effective(timeout_s=8)


def test_measure_section_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key 'measure.preset'"):
        profiles.load(write(tmp_path, "measure:\n  preset: fast\n"))
    with pytest.raises(ConfigError, match="max_s .* must be >= min_s"):
        profiles.load(write(tmp_path, "measure:\n  min_s: 10\n  max_s: 5\n"))
    with pytest.raises(ConfigError, match="key 'measure.ci_target': unknown key"):
        profiles.load(write(tmp_path, "measure:\n  ci_target: 1\n"))


def test_runtime_settings_thermal_and_isolation(tmp_path: Path) -> None:
    prof = profiles.load(write(tmp_path, """threads: 2
cpu_affinity: [2, 3]
memory_limit_mb: 1024
runtime_settings:
  litert: {xnnpack: false, threads: 4}
  onnxruntime:
    providers: [CPUExecutionProvider]
    graph_optimization_level: extended
    intra_op_threads: 3
    inter_op_threads: 1
thermal: {cooldown_below_c: 60, cooldown_timeout_s: 90}
"""))
    assert prof.runtime_settings.for_runtime("litert") == (4, {"xnnpack": False})
    assert prof.runtime_settings.for_runtime("onnxruntime") == (
        3, {"inter_op_threads": 1, "providers": ["CPUExecutionProvider"],
            "graph_optimization_level": "extended"})
    assert prof.runtime_settings.for_runtime("executorch") == (None, {})
    assert prof.cpu_affinity == [2, 3] and prof.memory_limit_mb == 1024
    assert prof.thermal.cooldown_below_c == 60 and prof.thermal.cooldown_timeout_s == 90


@pytest.mark.parametrize("text,key", [
    ("runtime_settings:\n  litert: {xnnpak: false}\n", "runtime_settings.litert.xnnpak"),
    ("runtime_settings:\n  onnxruntime: {graph_optimization_level: max}\n",
     "runtime_settings.onnxruntime.graph_optimization_level"),
    ("runtime_settings:\n  tvm: {}\n", "runtime_settings.tvm"),
    ("thermal: {cooldown_below: 60}\n", "thermal.cooldown_below"),
    ("memory_limit_mb: 8\n", "memory_limit_mb"),
    ("cpu_affinity: []\n", "(top level)"),
])
def test_bad_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        profiles.load(write(tmp_path, text))
    assert f"key '{key}'" in str(err.value)


def test_run_request_fields_from_profile_and_options(tmp_path: Path) -> None:
    """What the host sends the agent: threads precedence, power raising min_time_s, isolation."""
    from testbed.deploy import DeployOptions, effective_measure, run_settings

    prof = profiles.load(write(tmp_path, """threads: 2
cpu_affinity: [1]
memory_limit_mb: 512
runtime_settings:
  onnxruntime: {intra_op_threads: 3, graph_optimization_level: basic}
thermal: {cooldown_below_c: 55}
power: {min_active_s: 2}
"""))
    opts = DeployOptions(preset="quick")
    m = effective_measure(prof, opts)
    fields = run_settings(prof, "onnxruntime", opts, m, power={"sensor": "estimate"})
    assert fields["threads"] == 3 and fields["runtime_settings"] == {"graph_optimization_level": "basic"}
    assert fields["min_time_s"] == 2.0 and fields["max_time_s"] == 5.0 and fields["ci_target_pct"] == 5.0
    assert fields["cpu_affinity"] == [1] and fields["memory_limit_mb"] == 512
    assert fields["thermal"] == {"cooldown_below_c": 55.0, "cooldown_timeout_s": 120.0}
    plain = run_settings(prof, "litert", DeployOptions(threads=8), effective_measure(prof, DeployOptions()),
                         power=None)
    assert plain["threads"] == 8 and "runtime_settings" not in plain and "power" not in plain
    assert plain["min_time_s"] == 0.5 and plain["iterations"] == 50
