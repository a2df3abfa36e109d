"""Validation of POST /v1/runs bodies."""

from __future__ import annotations

from typing import Any

import pytest

from testbed_agent.errors import RequestError
from testbed_agent.runtimes import Probe
from testbed_agent.validation import parse_run_request

PROBES = {"onnxruntime": Probe(True, "1.0", None),
          "executorch": Probe(False, None, "torch is not installed")}
ART, INP = "a" * 64, "b" * 64  # the artifact and inputs sha256


def parse(body: Any, allow_debug: bool = False) -> dict[str, Any]:
    return parse_run_request(body, default_timeout_s=300, allow_debug=allow_debug, probes=PROBES)


def test_defaults() -> None:
    assert parse({"artifact_sha256": ART.upper(), "inputs_sha256": INP, "runtime": "onnxruntime"}) == {
        "artifact_sha256": ART, "runtime": "onnxruntime", "inputs_sha256": INP, "threads": None,
        "warmup": 10, "iterations": 50, "timeout_s": 300.0, "return_outputs": True,
        "min_time_s": 0.0, "power": None, "warmup_min_s": 0.0, "max_time_s": None,
        "ci_target_pct": None, "runtime_settings": {"providers": ["CPUExecutionProvider"],
                                                    "graph_optimization_level": None,
                                                    "execution_mode": None,
                                                    "inter_op_threads": None},
        "cpu_affinity": None, "memory_limit_mb": None, "thermal": None,
        "host_schema": 1}  # no schema field: a v1 host, answered in schema 2


def test_power_block_is_validated() -> None:
    base = {"artifact_sha256": ART, "inputs_sha256": INP, "runtime": "onnxruntime"}
    req = parse({**base, "power": {"sensor": "estimate", "settings": {"idle_w": 1, "max_w": 2}}})
    assert req["power"]["sensor"] == "estimate" and req["power"]["settings"] == {"idle_w": 1, "max_w": 2}
    with pytest.raises(RequestError, match="unknown keys"):
        parse({**base, "power": {"sensr": "rapl"}})


def test_explicit_values() -> None:
    req = parse({"artifact_sha256": ART, "inputs_sha256": INP, "runtime": "onnxruntime", "threads": 4,
                 "warmup": 0, "iterations": 3, "timeout_s": 2, "return_outputs": False})
    assert (req["threads"], req["warmup"], req["iterations"], req["timeout_s"], req["return_outputs"]) \
        == (4, 0, 3, 2.0, False)


@pytest.mark.parametrize("change,message", [
    ({"runtime": "tvm"}, "unknown runtime 'tvm'; this agent knows executorch, onnxruntime"),
    ({"runtime": "executorch"}, "runtime executorch is not available on this board: torch is not installed"),
    ({"threads": 0}, "threads must be an integer >= 1"),
    ({"threads": True}, "threads must be an integer >= 1"),
    ({"warmup": -1}, "warmup must be an integer >= 0"),
    ({"iterations": 2.5}, "iterations must be an integer >= 1"),
    ({"timeout_s": 0}, "timeout_s must be a number > 0"),
    ({"return_outputs": "yes"}, "return_outputs must be true or false"),
    ({"inputs_sha256": "nope"}, "inputs_sha256 must be 64 hexadecimal digits"),
    ({"iteration": 5}, "unknown field(s) in the run request: iteration"),
    ({"debug_sleep_s": 5}, "TESTBED_AGENT_ALLOW_DEBUG=1"),
    ({"debug_noise": {"fraction": 0.2}}, "debug_noise: test-only"),
    ({"max_time_s": 0}, "max_time_s must be a number > 0"),
    ({"min_time_s": 5, "max_time_s": 2}, "max_time_s (2) must be >= min_time_s (5)"),
    ({"max_time_s": 400}, "max_time_s (400) must be below timeout_s (300)"),
    ({"ci_target_pct": -1}, "ci_target_pct must be a number > 0"),
    ({"warmup_min_s": -1}, "warmup_min_s must be a number >= 0"),
    ({"runtime_settings": {"graph_optimisation_level": "all"}},
     "unknown runtime_settings for onnxruntime: graph_optimisation_level"),
    ({"runtime_settings": {"graph_optimization_level": "max"}},
     "graph_optimization_level must be one of disable, basic, extended, all"),
    ({"runtime_settings": {"providers": []}}, "providers must be a non-empty list"),
    ({"runtime_settings": [1]}, "runtime_settings must be a JSON object"),
    ({"cpu_affinity": []}, "cpu_affinity must be a non-empty list of CPU numbers"),
    ({"cpu_affinity": [0, -1]}, "cpu_affinity must be a non-empty list of CPU numbers"),
    ({"memory_limit_mb": 8}, "memory_limit_mb must be an integer >= 32"),
    ({"thermal": {"cooldown_below": 60}}, "thermal: unknown keys ['cooldown_below']"),
    ({"thermal": {"cooldown_below_c": 500}}, "cooldown_below_c must be a temperature"),
])
def test_errors(change: dict[str, Any], message: str) -> None:
    body = {"artifact_sha256": ART, "inputs_sha256": INP, "runtime": "onnxruntime", **change}
    with pytest.raises(RequestError) as err:
        parse(body)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_field_and_not_an_object() -> None:
    with pytest.raises(RequestError, match="needs inputs_sha256"):
        parse({"artifact_sha256": ART, "runtime": "onnxruntime"})
    with pytest.raises(RequestError, match="JSON object"):
        parse([ART])


def test_debug_field_only_when_allowed() -> None:
    req = parse({"artifact_sha256": ART, "inputs_sha256": INP, "runtime": "onnxruntime",
                 "debug_sleep_s": 2}, allow_debug=True)
    assert req["debug_sleep_s"] == 2.0


def test_measurement_and_isolation_fields() -> None:
    req = parse({"artifact_sha256": ART, "inputs_sha256": INP, "runtime": "onnxruntime",
                 "warmup_min_s": 0.5, "min_time_s": 1, "max_time_s": 20, "ci_target_pct": 1,
                 "runtime_settings": {"providers": ["CPUExecutionProvider"],
                                      "graph_optimization_level": "basic", "inter_op_threads": 2,
                                      "execution_mode": "parallel"},
                 "cpu_affinity": [3, 2, 3], "memory_limit_mb": 1024,
                 "thermal": {"cooldown_below_c": 60}})
    assert (req["warmup_min_s"], req["min_time_s"], req["max_time_s"], req["ci_target_pct"]) == \
        (0.5, 1.0, 20.0, 1.0)
    assert req["runtime_settings"]["graph_optimization_level"] == "basic"
    assert req["runtime_settings"]["inter_op_threads"] == 2
    assert req["cpu_affinity"] == [2, 3] and req["memory_limit_mb"] == 1024
    assert req["thermal"] == {"cooldown_below_c": 60.0, "cooldown_timeout_s": 120.0}


def test_runtime_settings_are_the_runtimes_own() -> None:
    probes = {"litert": Probe(True, "1", None), "executorch": Probe(True, "1", None)}
    body = {"artifact_sha256": ART, "inputs_sha256": INP}
    litert = parse_run_request({**body, "runtime": "litert", "runtime_settings": {"xnnpack": False}},
                               default_timeout_s=300, allow_debug=False, probes=probes)
    assert litert["runtime_settings"] == {"xnnpack": False}
    with pytest.raises(RequestError, match="litert.xnnpack must be true or false"):
        parse_run_request({**body, "runtime": "litert", "runtime_settings": {"xnnpack": "no"}},
                          default_timeout_s=300, allow_debug=False, probes=probes)
    with pytest.raises(RequestError, match="runtime executorch takes no runtime_settings"):
        parse_run_request({**body, "runtime": "executorch", "runtime_settings": {"xnnpack": True}},
                          default_timeout_s=300, allow_debug=False, probes=probes)


def test_debug_noise_and_crash_only_when_allowed() -> None:
    body = {"artifact_sha256": ART, "inputs_sha256": INP, "runtime": "onnxruntime"}
    req = parse({**body, "debug_noise": {"fraction": 0.5, "max_sleep_s": 0.01},
                 "debug_crash": "abort"}, allow_debug=True)
    assert req["debug_noise"] == {"fraction": 0.5, "max_sleep_s": 0.01, "seed": 0}
    assert req["debug_crash"] == "abort"
    with pytest.raises(RequestError, match="debug_crash must be one of segfault, abort"):
        parse({**body, "debug_crash": "hang"}, allow_debug=True)
    with pytest.raises(RequestError, match="debug_crash: test-only"):
        parse({**body, "debug_crash": "abort"})
