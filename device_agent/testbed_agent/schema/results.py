"""``RunResult`` (a run's result, the same shape from every runtime) and ``AgentInfo`` (``/v1/info``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .tensors import TensorSpec, tensors_from_wire, tensors_to_wire
from .versions import (
    MIN_AGENT_SCHEMA,
    MIN_HOST_SCHEMA,
    SCHEMA_VERSION,
    SchemaError,
    SchemaVersionError,
    _check_fields,
    _names,
    _required,
    check_agent_schema,
    version_error,
)


@dataclass
class RunResult:
    """One measurement's raw result: the same shape from every runtime. Statistics are the host's."""

    runtime: str
    runtime_version: str | None
    runner: str  # python | native: which loop timed it
    threads: int | None
    settings: dict[str, Any]  # what the runtime applied (and isolation: cpu_affinity, memory limit)
    artifact_size_bytes: int
    load_ms: float
    first_inference_ms: float
    warmup: int
    iterations: int
    min_time_s: float
    measurement: dict[str, Any]  # how the run was controlled and why it stopped
    power: dict[str, Any] | None
    samples_ns: list[int]  # raw per-inference latencies
    baseline_rss_bytes: int | None
    load_peak_rss_bytes: int | None
    inference_peak_rss_bytes: int | None
    peak_rss_bytes: int | None
    samples_buffer_bytes: int
    memory_method: str
    empty_rss_bytes: int | None = None  # the worker before the runtime import (Python runner)
    input_tensors: list[TensorSpec] | None = None
    output_tensors: list[TensorSpec] | None = None
    timing_output_npy_b64: str | None = None
    outputs_npy_b64: str | None = None  # output 0 of every eval sample, [N, K] float32 (accuracy)
    eval_outputs_npy_b64: list[str] | None = None  # schema 3: every output of every eval sample, one .npy each
    ops: dict[str, Any] | None = None  # profile_ops: the per-op table, or why not
    phases_s: dict[str, float] | None = None  # the worker's, then the agent's phases
    wall_s: float | None = None  # added by the agent
    thermal: dict[str, Any] | None = None  # added by the agent (its thermal watch)
    worker: dict[str, Any] | None = None  # how the worker process started
    run_id: str | None = None  # the agent's run id, added by the agent
    peak: dict[str, Any] | None = None  # schema 4: the board's measured peak compute/bandwidth (testbed_agent.peak)
    load: dict[str, Any] | None = None  # schema 4: other processes' CPU use on the board during the run, by the agent
    schema: int = SCHEMA_VERSION

    FIELDS: ClassVar[tuple[str, ...]]

    @classmethod
    def from_wire(cls, body: Any) -> RunResult:
        version = body.get("schema", SCHEMA_VERSION) if isinstance(body, Mapping) else SCHEMA_VERSION
        if not isinstance(version, int) or not MIN_AGENT_SCHEMA <= version <= SCHEMA_VERSION:
            raise SchemaVersionError(version_error(SCHEMA_VERSION, version if isinstance(version, int) else 1))
        fields = tuple(f for f in cls.FIELDS if ADDED_IN.get(f, 0) <= version)
        _check_fields("run result", body, fields, _required(cls))
        samples = body["samples_ns"]
        if not isinstance(samples, list) or not all(isinstance(s, int) for s in samples):
            raise SchemaError("samples_ns must be a list of integer nanoseconds")
        if body["runner"] not in ("python", "native"):
            raise SchemaError(f"runner must be python or native, got {body['runner']!r:.40}")
        values = {k: body[k] for k in cls.FIELDS if k in body}
        values["input_tensors"] = tensors_from_wire(values.get("input_tensors"), "input_tensors")
        values["output_tensors"] = tensors_from_wire(values.get("output_tensors"), "output_tensors")
        return cls(**values, schema=version)

    def to_wire(self, for_schema: int = SCHEMA_VERSION) -> dict[str, Any]:
        """Every field, in order (None where a runtime has no figure), and ``schema``; for a host of
        an older schema, in that schema (the fields added since left out)."""
        version = max(MIN_AGENT_SCHEMA, min(for_schema, self.schema))
        out: dict[str, Any] = {"schema": version}
        for name in self.FIELDS:
            if ADDED_IN.get(name, 0) > version:
                continue
            value = getattr(self, name)
            out[name] = (tensors_to_wire(value) if name in ("input_tensors", "output_tensors")
                         else value)
        return out


RunResult.FIELDS = _names(RunResult)
#: Result fields added after schema 2, by the schema that added them.
ADDED_IN = {"eval_outputs_npy_b64": 3, "peak": 4, "load": 4}


@dataclass
class AgentInfo:
    """``GET /v1/info``: the machine and what it can run."""

    agent_version: str
    hostname: str
    machine: str
    cpu: str | None
    board: str | None
    cores: int | None
    memory_bytes: int
    os: str
    python: str
    python_executable: str
    runtimes: dict[str, Any]  # name -> {available, reason, version...}
    power: dict[str, Any]  # sensor -> {available, reason, estimated...}
    features: list[str] = field(default_factory=list)
    min_host_schema: int = MIN_HOST_SCHEMA
    schema: int = SCHEMA_VERSION

    FIELDS: ClassVar[tuple[str, ...]]

    @classmethod
    def from_wire(cls, body: Any, device: str | None = None) -> AgentInfo:
        """Checks the version first (an older or newer agent may have other fields)."""
        if not isinstance(body, Mapping):
            raise SchemaError("the agent's /v1/info must be a JSON object")
        version = check_agent_schema(body, device)
        _check_fields("agent info", body, cls.FIELDS, _required(cls))
        return cls(**{k: body[k] for k in cls.FIELDS if k in body}, schema=version)

    def to_wire(self) -> dict[str, Any]:
        return {"schema": self.schema, **{k: getattr(self, k) for k in self.FIELDS}}


AgentInfo.FIELDS = _names(AgentInfo)
