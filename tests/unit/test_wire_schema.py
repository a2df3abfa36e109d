"""The host-agent wire schema (``testbed_agent.schema``): what the host builds validates on the agent,
unknown fields are one line naming them, and a version mismatch is one line naming the side to
upgrade - on the agent (HTTP 426) and on the host (from ``/v1/info``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from testbed import profiles
from testbed.agent_client import AgentClient, status_error
from testbed.errors import AgentRequestError, AgentVersionError
from testbed_agent import schema
from testbed_agent.errors import RequestError, UpgradeRequired
from testbed_agent.runtimes import Probe, all_runtimes
from testbed_agent.schema import RunRequest, RunResult, SchemaError, TensorSpec
from testbed_agent.validation import parse_run_request

ART, INP = "a" * 64, "b" * 64
PROFILE = """id: board
transport: local
threads: 2
cpu_affinity: [0]
memory_limit_mb: 512
runtime_settings:
  onnxruntime: {intra_op_threads: 3, graph_optimization_level: basic}
  litert: {xnnpack: false}
thermal: {cooldown_below_c: 55}
power: {min_active_s: 2}
"""


def agent_parse(body: Any, allow_debug: bool = False) -> dict[str, Any]:
    probes = {name: Probe(True, "1.0", None) for name in all_runtimes()}
    return parse_run_request(body, default_timeout_s=300, allow_debug=allow_debug, probes=probes)


def host_request(tmp_path: Path, runtime: str) -> dict[str, Any]:
    """A run request as the engine builds it (``engine.request.run_request``: the schema's RunRequest)
    and the client sends it."""
    from testbed.engine.request import DeployOptions, effective_measure, run_request

    path = tmp_path / "board.yaml"
    path.write_text(PROFILE)
    prof = profiles.load(str(path))
    opts = DeployOptions(preset="quick", profile_ops=True)
    power = {"sensor": "estimate", "rate_hz": 10.0, "idle_window_s": 1.0, "settings": {}}
    built = run_request(prof, runtime, ART, INP, opts, effective_measure(prof, opts), power)
    assert isinstance(built, RunRequest) and built.profile_ops is True
    sent: list[dict[str, Any]] = []
    client = AgentClient("http://127.0.0.1:9", "token", where="board (test)")
    client._call = lambda *a, **kw: sent.append(kw["json"]) or FakeResponse({"id": "r1"})  # type: ignore[method-assign]
    client.lease_id = "lease-1"
    client.start_run(built.to_wire())
    return sent[0]


class FakeResponse:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def json(self) -> dict[str, Any]:
        return self.body


@pytest.mark.parametrize("runtime", ["onnxruntime", "litert", "executorch-native"])
def test_what_the_host_builds_validates_on_the_agent(tmp_path: Path, runtime: str) -> None:
    wire = host_request(tmp_path, runtime)
    assert wire["schema"] == schema.SCHEMA_VERSION and wire["lease_id"] == "lease-1"
    wire.pop("lease_id")  # the app takes it off before parsing (leases)
    parsed = agent_parse(wire)
    assert parsed["runtime"] == runtime and parsed["cpu_affinity"] == [0]
    assert parsed["min_time_s"] == 2.0 and parsed["power"]["sensor"] == "estimate"
    assert parsed["profile_ops"] is True


def test_fields_are_listed_once() -> None:
    """The agent's validation and worker read their field lists from the schema."""
    from testbed_agent import manager, validation

    assert validation.FIELDS == schema.RUN_FIELDS
    assert manager.WORKER_FIELDS == schema.WORKER_FIELDS
    assert set(schema.WORKER_FIELDS) <= set(schema.RunRequest.FIELDS)


def test_unknown_field_is_one_line_naming_it() -> None:
    body = {"artifact_sha256": ART, "inputs_sha256": INP, "runtime": "onnxruntime", "iteration": 5}
    with pytest.raises(RequestError) as info:
        agent_parse(body)
    assert info.value.status == 400 and "\n" not in str(info.value)
    assert str(info.value).startswith("unknown field(s) in the run request: iteration;")
    client = AgentClient("http://127.0.0.1:9", "token", where="board (test)")
    with pytest.raises(AgentRequestError, match="unknown field.*iteration"):  # refused before sending
        client.start_run(body)


def test_newer_host_gets_426_naming_the_agent_to_upgrade() -> None:
    body = {"schema": schema.SCHEMA_VERSION + 1, "artifact_sha256": ART, "inputs_sha256": INP,
            "runtime": "onnxruntime", "a_field_of_the_future": 1}
    with pytest.raises(UpgradeRequired) as info:
        agent_parse(body)
    assert info.value.status == 426
    assert str(info.value) == (f"host speaks schema {schema.SCHEMA_VERSION + 1}, agent speaks "
                               f"{schema.SCHEMA_VERSION}: upgrade the agent (testbed agent install "
                               "--device <device>)")


def test_older_host_gets_426_naming_the_host_to_upgrade(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema.versions, "MIN_HOST_SCHEMA", schema.SCHEMA_VERSION)
    with pytest.raises(UpgradeRequired, match=r"host speaks schema 1, agent speaks \d+: upgrade the host"):
        agent_parse({"artifact_sha256": ART, "inputs_sha256": INP, "runtime": "onnxruntime"})


def test_a_request_without_schema_is_v1_and_still_answered() -> None:
    assert agent_parse({"artifact_sha256": ART, "inputs_sha256": INP, "runtime": "onnxruntime"})


def info_client(body: dict[str, Any]) -> AgentClient:
    client = AgentClient("http://127.0.0.1:9", "token", where="pi4 (pi@10.0.0.2)")
    client._call = lambda *a, **kw: FakeResponse(body)  # type: ignore[method-assign]
    return client


def agent_info(**extra: Any) -> dict[str, Any]:
    return {**schema.AgentInfo(agent_version="0.1.0", hostname="h", machine="x86_64", cpu=None, board=None,
                               cores=2, memory_bytes=1, os="Linux", python="3.11",
                               python_executable="/usr/bin/python3", runtimes={}, power={}).to_wire(),
            **extra}


def test_host_checks_the_agents_schema_in_info() -> None:
    assert info_client(agent_info()).info()["schema"] == schema.SCHEMA_VERSION
    old = agent_info()
    del old["schema"], old["min_host_schema"]  # an agent from before the schema
    with pytest.raises(AgentVersionError) as info:
        info_client(old).info()
    assert str(info.value) == (f"agent on pi4 (pi@10.0.0.2): host speaks schema {schema.SCHEMA_VERSION}, "
                               "agent speaks 1: upgrade the agent (testbed agent install --device pi4)")
    assert not info.value.retryable
    newer = agent_info(schema=schema.SCHEMA_VERSION + 1, min_host_schema=schema.SCHEMA_VERSION + 1,
                       a_field_of_the_future=True)
    with pytest.raises(AgentVersionError, match=f"agent speaks {schema.SCHEMA_VERSION + 1}: upgrade the host"):
        info_client(newer).info()


def test_426_from_the_agent_is_a_version_error() -> None:
    err = status_error(426, "agent on pi4", "POST /v1/runs", "host speaks schema 3, agent speaks 2: upgrade ...")
    assert isinstance(err, AgentVersionError) and str(err).startswith("agent on pi4: host speaks schema 3")


def result(**extra: Any) -> dict[str, Any]:
    return RunResult(runtime="litert", runtime_version="1.0", runner="native", threads=None, settings={},
                     artifact_size_bytes=5, load_ms=1.0, first_inference_ms=1.0, warmup=1, iterations=2,
                     min_time_s=0.0, measurement={}, power=None, samples_ns=[1, 2], baseline_rss_bytes=1,
                     load_peak_rss_bytes=1, inference_peak_rss_bytes=1, peak_rss_bytes=1,
                     samples_buffer_bytes=16, memory_method="test", **extra).to_wire()


def test_result_round_trips_and_refuses_other_shapes() -> None:
    wire = result(output_tensors=[TensorSpec("logits", (1, 10), "float32")], run_id="r1")
    typed = RunResult.from_wire(wire)
    assert typed.output_tensors == [TensorSpec("logits", (1, 10), "float32")] and typed.to_wire() == wire
    with pytest.raises(SchemaError, match="unknown field.*latency_ms"):
        RunResult.from_wire({**wire, "latency_ms": 3})
    del wire["samples_ns"]
    with pytest.raises(SchemaError, match="needs samples_ns"):
        RunResult.from_wire(wire)


def test_tensors_are_named_lists() -> None:
    """Several inputs and outputs: a list of (name, shape, dtype), names unique."""
    specs = [{"name": "image", "shape": [1, 3, 8, 8], "dtype": "float32"},
             {"name": "mask", "shape": [1, 8], "dtype": "bool"}]
    request = RunRequest.from_wire({"artifact_sha256": ART, "inputs_sha256": INP, "runtime": "litert",
                                    "inputs": specs})
    assert request.inputs and [t.name for t in request.inputs] == ["image", "mask"]
    assert request.to_wire()["inputs"] == specs
    with pytest.raises(SchemaError, match="unique"):
        RunRequest.from_wire({"artifact_sha256": ART, "inputs_sha256": INP, "runtime": "litert",
                              "inputs": specs + specs[:1]})
    with pytest.raises(SchemaError, match="shape"):
        TensorSpec.from_wire({"name": "x", "shape": [-1], "dtype": "float32"})


def test_lease_requests_carry_the_schema_too() -> None:
    from testbed_agent.lease import parse_lease_request

    assert parse_lease_request({"holder": "h", "ttl_s": 5, "schema": schema.SCHEMA_VERSION}) == ("h", 5.0)
    assert parse_lease_request({"holder": "h", "ttl_s": 5}) == ("h", 5.0)  # a schema 1 host
    with pytest.raises(UpgradeRequired, match="upgrade the agent"):
        parse_lease_request({"holder": "h", "schema": schema.SCHEMA_VERSION + 1})


def test_every_eval_output_is_schema_3_and_left_out_for_a_schema_2_host() -> None:
    wire = result(eval_outputs_npy_b64=["AAA", "BBB"], run_id="r1")
    assert wire["schema"] == schema.SCHEMA_VERSION >= 3
    assert RunResult.from_wire(wire).eval_outputs_npy_b64 == ["AAA", "BBB"]
    old = RunResult.from_wire(wire).to_wire(for_schema=2)  # the agent answering a schema 2 host
    assert old["schema"] == 2 and "eval_outputs_npy_b64" not in old
    assert RunResult.from_wire(old).eval_outputs_npy_b64 is None  # this host reads schema 2 results too
    with pytest.raises(SchemaError, match="unknown field.*eval_outputs_npy_b64"):
        RunResult.from_wire({**old, "eval_outputs_npy_b64": ["AAA"]})
    assert agent_parse({"schema": 2, "artifact_sha256": ART, "inputs_sha256": INP,
                        "runtime": "onnxruntime"})["host_schema"] == 2


def test_peak_and_load_are_schema_4_and_left_out_for_a_schema_3_host() -> None:
    wire = result(peak={"fp32_gflops": 1.0}, load={"other_cpu_pct": 3.0}, run_id="r1")
    assert wire["schema"] == schema.SCHEMA_VERSION == 4
    got = RunResult.from_wire(wire)
    assert got.peak == {"fp32_gflops": 1.0} and got.load == {"other_cpu_pct": 3.0}
    old = got.to_wire(for_schema=3)
    assert old["schema"] == 3 and "peak" not in old and "load" not in old
    assert RunResult.from_wire(old).peak is None
