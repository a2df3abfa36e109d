"""Validation of POST /v1/runs bodies."""

from __future__ import annotations

from typing import Any

import pytest

from testbed_agent.errors import RequestError
from testbed_agent.runtimes import Probe
from testbed_agent.validation import parse_run_request

PROBES = {"onnxruntime": Probe(True, "1.0", None),
          "executorch": Probe(False, None, "torch is not installed")}
A, I = "a" * 64, "b" * 64


def parse(body: Any, allow_debug: bool = False) -> dict[str, Any]:
    return parse_run_request(body, default_timeout_s=300, allow_debug=allow_debug, probes=PROBES)


def test_defaults() -> None:
    assert parse({"artifact_sha256": A.upper(), "inputs_sha256": I, "runtime": "onnxruntime"}) == {
        "artifact_sha256": A, "runtime": "onnxruntime", "inputs_sha256": I, "threads": None,
        "warmup": 10, "iterations": 50, "timeout_s": 300.0, "return_outputs": True,
        "min_time_s": 0.0, "power": None}


def test_power_block_is_validated() -> None:
    base = {"artifact_sha256": A, "inputs_sha256": I, "runtime": "onnxruntime"}
    req = parse({**base, "power": {"sensor": "estimate", "settings": {"idle_w": 1, "max_w": 2}}})
    assert req["power"]["sensor"] == "estimate" and req["power"]["settings"] == {"idle_w": 1, "max_w": 2}
    with pytest.raises(RequestError, match="unknown keys"):
        parse({**base, "power": {"sensr": "rapl"}})


def test_explicit_values() -> None:
    req = parse({"artifact_sha256": A, "inputs_sha256": I, "runtime": "onnxruntime", "threads": 4,
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
])
def test_errors(change: dict[str, Any], message: str) -> None:
    body = {"artifact_sha256": A, "inputs_sha256": I, "runtime": "onnxruntime", **change}
    with pytest.raises(RequestError) as err:
        parse(body)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_field_and_not_an_object() -> None:
    with pytest.raises(RequestError, match="needs inputs_sha256"):
        parse({"artifact_sha256": A, "runtime": "onnxruntime"})
    with pytest.raises(RequestError, match="JSON object"):
        parse([A])


def test_debug_field_only_when_allowed() -> None:
    req = parse({"artifact_sha256": A, "inputs_sha256": I, "runtime": "onnxruntime",
                 "debug_sleep_s": 2}, allow_debug=True)
    assert req["debug_sleep_s"] == 2.0
