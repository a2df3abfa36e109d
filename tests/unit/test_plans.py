"""Plans: strict validation (file and key named), devices by id and tag, the cell matrix, options."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from testbed.engine import plan as P
from testbed.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_plans_validate_and_expand() -> None:
    for path in sorted((REPO / "plans").glob("*.yaml")):
        plan = P.load(path)
        assert plan.name == path.stem
        assert P.resolve_devices(plan)
    smoke = P.load(REPO / "plans" / "local-smoke.yaml")
    cells = P.expand(smoke, P.resolve_devices(smoke))
    assert {c["format"] for c in cells} == {"onnx", "tflite"} and {c["quantization"] for c in cells} == {"fp32"}
    assert all(c["device"] == "local" and c["repeats"] == smoke.repeats for c in cells)


@pytest.mark.parametrize("text, key", [
    ("devices: [local]\nmodels: [digits_cnn]\nrepeat: 3\n", "repeat"),
    ("devices: [local]\nmodels: [digits_cnn]\nexecution: {retry: 1}\n", "execution.retry"),
    ("devices: [local]\nmodels: []\n", "models"),
    ("models: [digits_cnn]\n", "(top level)"),
    ("devices: [local]\nmodels: [digits_cnn]\nthreads: [0]\n", "threads"),
    ("devices: [local]\nmodels: [digits_cnn]\nexecution: {on_busy: maybe}\n", "execution.on_busy"),
    ("devices: [local]\nmodels: [digits_cnn]\nruntimes: [tensorrt]\n", "runtimes.0"),
])
def test_mistakes_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        P.load(path)
    assert str(path) in str(err.value) and f"key '{key}'" in str(err.value)


def test_devices_by_id_and_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for name, tags in (("a1", "[lab-a, arm64]"), ("a2", "[lab-a]"), ("b1", "[lab-b]")):
        (profiles / f"{name}.yaml").write_text(f"id: {name}\ntransport: local\ntags: {tags}\n")
    monkeypatch.setenv("TESTBED_PROFILES", str(profiles))
    plan = P.from_dict({"devices": ["b1"], "tags": ["lab-a"], "models": ["digits_cnn"]})
    assert [p.id for p in P.resolve_devices(plan)] == ["b1", "a1", "a2"]
    with pytest.raises(ConfigError, match="no profile has any of the tags"):
        P.resolve_devices(P.from_dict({"tags": ["nowhere"], "models": ["digits_cnn"]}))
    with pytest.raises(ConfigError, match="unknown device 'zz'"):
        P.resolve_devices(P.from_dict({"devices": ["zz"], "models": ["digits_cnn"]}))


def test_cells_are_the_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "ort.yaml").write_text("id: ort\ntransport: local\nruntimes: [onnxruntime]\n")
    monkeypatch.setenv("TESTBED_PROFILES", str(profiles))
    plan = P.from_dict({"devices": ["ort", "local"], "models": ["digits_cnn"], "formats": ["onnx", "tflite"],
                        "quantization": ["fp32"], "threads": [1, 2, 1], "repeats": 3, "runtimes": ["onnxruntime"]})
    cells = P.expand(plan, P.resolve_devices(plan))
    assert {c["runtime"] for c in cells} == {"onnxruntime"}
    assert len(cells) == 2 * 2 * 2  # boards x (onnx from torch, onnx from keras) x threads (1, 2)
    assert len({c["key"] for c in cells}) == len(cells)
    assert "ort/digits_cnn/onnx-torch-fp32/t2" in {c["key"] for c in cells}
    assert P.cell_key("pi4", "m", "conv", None) == "pi4/m/conv/tdefault"
    none = P.from_dict({"devices": ["ort"], "models": ["digits_cnn"], "formats": ["tflite"]})
    with pytest.raises(ConfigError, match="has no cells"):
        P.expand(none, P.resolve_devices(none))


def test_measure_options_pass_through_and_unknown_ones_are_refused() -> None:
    from testbed.deploy import DeployOptions

    known = {f.name for f in dataclasses.fields(DeployOptions)}
    opts = P.deploy_options(P.from_dict({"devices": ["local"], "models": ["m"],
                                         "measure": {"warmup": 3, "iterations": 40}}), 2, 60.0)
    assert (opts.warmup, opts.iterations, opts.threads, opts.timeout_s) == (3, 40, 2, 60.0)
    preset = P.from_dict({"devices": ["local"], "models": ["m"], "measure": {"preset": "quick"}})
    if "preset" in known:  # the measurement engine's presets: passed through as given
        assert P.deploy_options(preset, None, None).preset == "quick"  # type: ignore[attr-defined]
    else:
        with pytest.raises(ConfigError, match="key 'measure.preset'"):
            P.deploy_options(preset, None, None)
    odd = P.from_dict({"devices": ["local"], "models": ["m"], "measure": {"options": {"no_such_option": 1}}})
    with pytest.raises(ConfigError, match="no option 'no_such_option'"):
        P.deploy_options(odd, None, None)
    clash = P.from_dict({"devices": ["local"], "models": ["m"], "measure": {"options": {"threads": 4}}})
    with pytest.raises(ConfigError, match="set by the plan itself"):
        P.deploy_options(clash, None, None)


def test_plan_identity_is_its_content() -> None:
    a = P.from_dict({"devices": ["local"], "models": ["digits_cnn"]})
    b = P.from_dict({"devices": ["local"], "models": ["digits_cnn"], "repeats": 1})
    c = P.from_dict({"devices": ["local"], "models": ["digits_cnn"], "repeats": 2})
    assert a.sha256() == b.sha256() != c.sha256()
    assert P.from_dict(a.to_json()) == a
