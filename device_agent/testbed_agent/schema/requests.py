"""``RunRequest`` (host -> agent, ``POST /v1/runs``) and ``WorkerRequest`` (agent -> worker)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .tensors import TensorSpec, tensors_from_wire, tensors_to_wire
from .versions import (
    DEBUG_FIELDS,
    SCHEMA_VERSION,
    SchemaError,
    SchemaVersionError,
    _check_fields,
    _names,
    _required,
    check_host_schema,
)


@dataclass
class RunRequest:
    """``POST /v1/runs`` (see docs/agent-api.md). ``None`` = the agent's default."""

    artifact_sha256: str
    runtime: str
    inputs_sha256: str
    threads: int | None = None  # inference threads; None = the runtime's default
    warmup: int | None = None  # at least this many warm-up runs (agent default 10)
    warmup_min_s: float | None = None  # ... and this many seconds
    iterations: int | None = None  # at least this many timed runs (agent default 50)
    min_time_s: float | None = None  # ... and this many seconds
    max_time_s: float | None = None  # never more (< timeout_s)
    ci_target_pct: float | None = None  # then stop once the 95 % CI of the median is within ±this %
    timeout_s: float | None = None  # the worker is killed after this (agent default: --timeout)
    return_outputs: bool | None = None  # outputs for parity/accuracy (default true)
    power: dict[str, Any] | None = None  # the power block (docs/power.md)
    runtime_settings: dict[str, Any] | None = None  # the runtime's own settings, checked by it
    cpu_affinity: list[int] | None = None  # pin the worker to these CPUs
    memory_limit_mb: int | None = None  # RLIMIT_AS of the worker
    thermal: dict[str, Any] | None = None  # {cooldown_below_c, cooldown_timeout_s}
    profile_ops: bool | None = None  # a profiled pass after the timed runs
    peak: bool | None = None  # schema 4: the board's peak compute and bandwidth for the roofline (cached)
    inputs: list[TensorSpec] | None = None  # the model's inputs as the host describes them
    lease_id: str | None = None  # the board's lease, while one is held
    debug_sleep_s: float | None = None  # test-only (DEBUG_FIELDS)
    debug_noise: dict[str, Any] | None = None
    debug_crash: str | None = None
    schema: int = SCHEMA_VERSION

    FIELDS: ClassVar[tuple[str, ...]]

    @classmethod
    def from_wire(cls, body: Any, *, allow_debug: bool = True) -> RunRequest:
        """The request's shape (names, the identity fields, the types of the simple fields); its
        values are checked by the agent's ``validation``."""
        allowed = tuple(f for f in cls.FIELDS if allow_debug or f not in DEBUG_FIELDS)
        hidden = [k for k in DEBUG_FIELDS if k in (body if isinstance(body, Mapping) else {})]
        hint = (f" ({', '.join(hidden)}: test-only, start the agent with TESTBED_AGENT_ALLOW_DEBUG=1)"
                if hidden and not allow_debug else "")
        version = check_host_schema(body) if isinstance(body, Mapping) else SCHEMA_VERSION
        _check_fields("run request", body, allowed, _required(cls), hint)
        values = {k: body[k] for k in cls.FIELDS if k in body}
        for key in ("artifact_sha256", "runtime", "inputs_sha256", "lease_id", "debug_crash"):
            if values.get(key) is not None and not isinstance(values[key], str):
                raise SchemaError(f"{key} must be a string, got {values[key]!r:.40}")
        for key in ("return_outputs", "profile_ops"):
            if values.get(key) is not None and not isinstance(values[key], bool):
                raise SchemaError(f"{key} must be true or false, got {values[key]!r:.40}")
        for key in ("power", "runtime_settings", "thermal", "debug_noise"):
            if values.get(key) is not None and not isinstance(values[key], Mapping):
                raise SchemaError(f"{key} must be a JSON object, got {values[key]!r:.60}")
        values["inputs"] = tensors_from_wire(values.get("inputs"), "inputs")
        return cls(**values, schema=version)

    def to_wire(self) -> dict[str, Any]:
        """The JSON body: ``schema`` and every field that is set (None = the agent's default)."""
        out: dict[str, Any] = {"schema": self.schema}
        for name in self.FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = tensors_to_wire(value) if name == "inputs" else value
        return out


RunRequest.FIELDS = _names(RunRequest)
#: The run request's fields without the test-only ones (what docs/agent-api.md lists).
RUN_FIELDS = tuple(f for f in RunRequest.FIELDS if f not in DEBUG_FIELDS)


@dataclass
class WorkerRequest:
    """What the agent writes on a worker's stdin: the run request's measurement fields, the
    artifact and inputs as paths, and a cached idle power baseline when one holds."""

    artifact_path: str
    inputs_path: str
    runtime: str
    threads: int | None = None
    warmup: int | None = None
    warmup_min_s: float | None = None
    iterations: int | None = None
    min_time_s: float | None = None
    max_time_s: float | None = None
    ci_target_pct: float | None = None
    return_outputs: bool | None = None
    power: dict[str, Any] | None = None
    runtime_settings: dict[str, Any] | None = None
    cpu_affinity: list[int] | None = None
    memory_limit_mb: int | None = None
    profile_ops: bool | None = None
    peak: bool | None = None
    inputs: list[dict[str, Any]] | None = None  # the request's named input tensors (wire form), checked on the .npz
    idle_baseline: dict[str, Any] | None = None
    debug_sleep_s: float | None = None
    debug_noise: dict[str, Any] | None = None
    debug_crash: str | None = None
    schema: int = SCHEMA_VERSION

    FIELDS: ClassVar[tuple[str, ...]]

    @classmethod
    def from_run(cls, request: Mapping[str, Any], artifact_path: str, inputs_path: str,
                 idle_baseline: dict[str, Any] | None = None) -> WorkerRequest:
        """From the agent's normalized run request."""
        passed = {k: request[k] for k in cls.FIELDS if k in request}
        return cls(**{**passed, "artifact_path": artifact_path, "inputs_path": inputs_path,
                      "idle_baseline": idle_baseline})

    @classmethod
    def from_wire(cls, body: Any) -> WorkerRequest:
        _check_fields("worker request", body, cls.FIELDS, _required(cls))
        if body.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise SchemaVersionError(f"worker request of schema {body.get('schema')!r:.20}, this "
                                     f"worker speaks {SCHEMA_VERSION}: restart the agent")
        return cls(**{k: body[k] for k in cls.FIELDS if k in body})

    def to_wire(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.FIELDS if getattr(self, k) is not None}
        return {"schema": self.schema, **out}


WorkerRequest.FIELDS = _names(WorkerRequest)
#: The run request's fields a worker gets as they are (the artifact and inputs go as paths).
WORKER_FIELDS = tuple(f for f in WorkerRequest.FIELDS
                      if f not in ("artifact_path", "inputs_path", "idle_baseline"))
