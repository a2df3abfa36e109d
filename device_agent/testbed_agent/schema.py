"""The host-agent wire schema: the one definition of what crosses between them, imported by both.

    RunRequest      ``POST /v1/runs``: what to measure and how (the host builds it, the agent parses it)
    WorkerRequest   what the agent hands one worker process on its stdin
    RunResult       what a worker answers and ``GET /v1/runs/<id>`` returns as ``result``: the same
                    typed shape from every runtime (the Python runtimes and the native runner)
    AgentInfo       ``GET /v1/info``
    TensorSpec      one named tensor (name, shape, dtype): inputs and outputs are lists of them

Stdlib dataclasses with explicit checks: the agent installs on boards without pydantic. Every
document carries ``schema`` (``SCHEMA_VERSION``). Parsing is strict: an unknown field is one
``SchemaError`` line naming it (the agent answers 400), a missing one too. Value ranges (threads >= 1,
a runtime this board has...) are the agent's ``validation``; the shape is here.

Schema history:
  1  the untyped v1 dicts (no ``schema`` field); an agent still answers a request without one.
  2  ``schema`` in every request and response; ``RunResult`` typed, with ``run_id`` (the agent's run
     id), ``input_tensors``/``output_tensors`` (lists of TensorSpec); ``AgentInfo.schema`` and
     ``min_host_schema``; ``RunRequest.inputs`` (optional, the host's description of the inputs).

Versions: an agent answers hosts of schema ``MIN_HOST_SCHEMA``..``SCHEMA_VERSION``; a host needs an
agent of at least ``MIN_AGENT_SCHEMA`` (a v1 agent refuses the ``schema`` field). Either side names
the side to upgrade in one line (``version_error``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

SCHEMA_VERSION = 2
#: The oldest host schema this agent answers (v1 hosts sent the same fields, without ``schema``).
MIN_HOST_SCHEMA = 1
#: The oldest agent schema this host can talk to (a v1 agent refuses the ``schema`` field).
MIN_AGENT_SCHEMA = 2
#: Test-only request fields, accepted only when the agent runs with TESTBED_AGENT_ALLOW_DEBUG=1.
DEBUG_FIELDS = ("debug_sleep_s", "debug_noise", "debug_crash")


class SchemaError(ValueError):
    """A document that does not fit the schema: one line naming the field."""


class SchemaVersionError(SchemaError):
    """Host and agent speak incompatible schema versions; the message names the side to upgrade."""


def version_error(host: int, agent: int, device: str | None = None) -> str:
    """The one line for a host of schema ``host`` and an agent of schema ``agent``."""
    if host > agent:
        fix = f"upgrade the agent (testbed agent install --device {device or '<device>'})"
    else:
        fix = "upgrade the host (install this testbed checkout's newer version on the host)"
    return f"host speaks schema {host}, agent speaks {agent}: {fix}"


def check_host_schema(body: Mapping[str, Any]) -> int:
    """On the agent: the schema of a request (absent: 1); SchemaVersionError when not answered."""
    version = body.get("schema", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise SchemaError(f"schema must be an integer version, got {version!r:.40}")
    if version > SCHEMA_VERSION or version < MIN_HOST_SCHEMA:
        raise SchemaVersionError(version_error(version, SCHEMA_VERSION))
    return version


def check_agent_schema(info: Mapping[str, Any], device: str | None = None) -> int:
    """On the host: the agent's schema from its ``/v1/info`` (absent: 1, an agent from before
    schemas); SchemaVersionError when this host cannot talk to it."""
    version = info.get("schema", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise SchemaError(f"the agent's /v1/info schema must be an integer, got {version!r:.40}")
    min_host = info.get("min_host_schema", version)
    if version < MIN_AGENT_SCHEMA or (isinstance(min_host, int) and min_host > SCHEMA_VERSION):
        raise SchemaVersionError(version_error(SCHEMA_VERSION, version, device))
    return version


def _check_fields(kind: str, body: Any, allowed: tuple[str, ...], required: tuple[str, ...],
                  hint: str = "") -> None:
    if not isinstance(body, Mapping):
        raise SchemaError(f"the {kind} must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(allowed) - {"schema"})
    if unknown:
        raise SchemaError(f"unknown field(s) in the {kind}: {', '.join(unknown)}; "
                          f"allowed: {', '.join(allowed)}{hint}")
    for key in required:
        if key not in body:
            raise SchemaError(f"the {kind} needs {key}")


def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "schema")


def _required(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls)
                 if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor: ``{"name": "input", "shape": [1, 28, 28, 1], "dtype": "float32"}``."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_wire(cls, raw: Any) -> TensorSpec:
        _check_fields("tensor", raw, ("name", "shape", "dtype"), ("name", "shape", "dtype"))
        name, shape, dtype = raw["name"], raw["shape"], raw["dtype"]
        if not isinstance(name, str) or not name:
            raise SchemaError(f"a tensor's name must be a non-empty string, got {name!r:.40}")
        if (not isinstance(shape, (list, tuple))
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            raise SchemaError(f"tensor {name}: shape must be a list of sizes >= 0, got {shape!r:.60}")
        if not isinstance(dtype, str) or not dtype:
            raise SchemaError(f"tensor {name}: dtype must be a string such as 'float32'")
        return cls(name, tuple(shape), dtype)

    @classmethod
    def of(cls, name: str, array: Any) -> TensorSpec:
        """The spec of a numpy array (anything with ``shape`` and ``dtype``)."""
        return cls(name, tuple(int(d) for d in array.shape), str(array.dtype))


def tensors_from_wire(raw: Any, what: str) -> list[TensorSpec] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise SchemaError(f"{what} must be a list of {{name, shape, dtype}} tensors")
    specs = [TensorSpec.from_wire(t) for t in raw]
    names = [t.name for t in specs]
    if len(set(names)) != len(names):
        raise SchemaError(f"{what}: tensor names must be unique, got {names}")
    return specs


def _tensors_to_wire(specs: list[TensorSpec] | None) -> list[dict[str, Any]] | None:
    return None if specs is None else [t.to_wire() for t in specs]


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
                out[name] = _tensors_to_wire(value) if name == "inputs" else value
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
    outputs_npy_b64: str | None = None
    ops: dict[str, Any] | None = None  # profile_ops: the per-op table, or why not
    phases_s: dict[str, float] | None = None  # the worker's, then the agent's phases
    wall_s: float | None = None  # added by the agent
    thermal: dict[str, Any] | None = None  # added by the agent (its thermal watch)
    worker: dict[str, Any] | None = None  # how the worker process started
    run_id: str | None = None  # the agent's run id, added by the agent
    schema: int = SCHEMA_VERSION

    FIELDS: ClassVar[tuple[str, ...]]

    @classmethod
    def from_wire(cls, body: Any) -> RunResult:
        _check_fields("run result", body, cls.FIELDS, _required(cls))
        if body.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise SchemaVersionError(version_error(SCHEMA_VERSION, body.get("schema", 1)))
        samples = body["samples_ns"]
        if not isinstance(samples, list) or not all(isinstance(s, int) for s in samples):
            raise SchemaError("samples_ns must be a list of integer nanoseconds")
        if body["runner"] not in ("python", "native"):
            raise SchemaError(f"runner must be python or native, got {body['runner']!r:.40}")
        values = {k: body[k] for k in cls.FIELDS if k in body}
        values["input_tensors"] = tensors_from_wire(values.get("input_tensors"), "input_tensors")
        values["output_tensors"] = tensors_from_wire(values.get("output_tensors"), "output_tensors")
        return cls(**values)

    def to_wire(self) -> dict[str, Any]:
        """Every field, in order (None where a runtime has no figure), and ``schema``."""
        out: dict[str, Any] = {"schema": self.schema}
        for name in self.FIELDS:
            value = getattr(self, name)
            out[name] = (_tensors_to_wire(value) if name in ("input_tensors", "output_tensors")
                         else value)
        return out


RunResult.FIELDS = _names(RunResult)


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
