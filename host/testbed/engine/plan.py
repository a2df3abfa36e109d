"""Plans: ``plans/<name>.yaml``, validated strictly (a typo is an error naming the file and the key).

A plan is a matrix: boards x models x variants (format, source, quantization, runtime) x threads, each
*cell* measured ``repeats`` times. Every key is documented in ``plans/README.md`` with an example.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from ..errors import ConfigError
from ..profiles import Profile

if TYPE_CHECKING:
    from .request import DeployOptions


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeasureSpec(_Strict):
    """How each run measures; passed to deploy's options (left out: the board profile's)."""

    preset: str | None = None  # a measurement preset by name (deploy --preset)
    warmup: int | None = Field(default=None, ge=0)
    iterations: int | None = Field(default=None, ge=1)
    sustain: str | float | None = None  # a sustained run: every cell timed this long ("30m"; docs/sustain.md)
    options: dict[str, Any] = {}  # any other deploy option by name, passed through as given

    @field_validator("sustain")
    @classmethod
    def _window(cls, value: str | float | None) -> str | float | None:
        from ..sustain import parse_window

        try:
            parse_window(value, "sustain")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value


class ExecutionSpec(_Strict):
    """Timeouts, retries, the board lease."""

    cell_timeout_s: float | None = Field(default=None, gt=0)  # one run; null = the profile's measure.timeout_s
    retries: int = Field(default=2, ge=0)  # extra attempts of a cell after a board fault (transport/agent)
    backoff_s: float = Field(default=2.0, ge=0)  # wait before the first retry; doubles each time
    backoff_max_s: float = Field(default=60.0, ge=0)
    health_timeout_s: float = Field(default=30.0, gt=0)  # health check answer within this
    on_busy: Literal["wait", "skip"] = "wait"  # board leased by another host: wait (bounded) or skip it
    lease_wait_s: float = Field(default=1800.0, ge=0)  # how long to wait for a busy board
    lease_ttl_s: float = Field(default=120.0, gt=0, le=86400)  # lease lifetime; renewed every ttl/3


class VerdictSpec(_Strict):
    """When a change is a regression (see verdicts.py and plans/README.md)."""

    threshold_pct: float = Field(default=5.0, gt=0)  # latency: relative change of the median
    confidence: float = Field(default=0.95, gt=0.5, lt=1)  # of the bootstrap interval of that change
    alpha: float = Field(default=0.05, gt=0, lt=0.5)  # Mann-Whitney U significance level
    size_threshold_pct: float = Field(default=1.0, ge=0)
    memory_threshold_pct: float = Field(default=10.0, ge=0)
    energy_threshold_pct: float = Field(default=10.0, ge=0)
    accuracy_drop_pp: float = Field(default=1.0, ge=0)  # percentage points of top-1 accuracy


class Plan(_Strict):
    name: str | None = None  # identifies the plan across runs (baselines); default: the file name
    description: str = ""
    devices: list[str] = []  # profile ids
    tags: list[str] = []  # every profile carrying one of these tags
    models: list[str] = Field(min_length=1)  # zoo ids
    formats: list[str] | None = None  # executorch / onnx / tflite; null = all
    sources: list[str] | None = None  # pytorch / keras; null = both
    quantization: list[str] | None = None  # fp32 / fp16 / int8-dynamic / int8-static...; null = all
    runtimes: list[Literal["litert", "onnxruntime", "executorch"]] | None = None  # null = the board's
    threads: list[int | None] = [None]  # a cell per value; null = the profile's threads
    repeats: int = Field(default=1, ge=1, le=100)  # independent runs per cell (verdicts want >= 3)
    engine: Literal["threads", "celery"] = "threads"  # where cells run: this process, or `testbed worker`s
    measure: MeasureSpec = MeasureSpec()
    execution: ExecutionSpec = ExecutionSpec()
    verdict: VerdictSpec = VerdictSpec()

    @field_validator("threads")
    @classmethod
    def _threads(cls, value: list[int | None]) -> list[int | None]:
        if not value:
            raise ValueError("needs at least one value (null = the profile's threads)")
        if any(v is not None and v < 1 for v in value):
            raise ValueError("thread counts must be >= 1 (or null)")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _some_device(self) -> Plan:
        if not self.devices and not self.tags:
            raise ValueError("a plan needs 'devices' (profile ids) or 'tags' (or both)")
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()


def _key_of(err: ErrorDetails) -> str:
    return ".".join(str(p) for p in err["loc"]) or "(top level)"


def load(path: str | Path) -> Plan:
    """Load and validate a plan file; any problem is a ConfigError naming the file and the key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"no plan file {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    plan = from_dict(data, where=str(path))
    if plan.name is None:
        plan.name = path.stem
    return plan


def from_dict(data: dict, where: str = "plan") -> Plan:
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(f"{where}: key '{_key_of(err)}': {msg}") from exc


def resolve_devices(plan: Plan) -> list[Profile]:
    """The plan's boards: listed ids in order, then tagged profiles; an unknown id is a ConfigError."""
    from .. import profiles

    chosen: dict[str, Profile] = {}
    for device in plan.devices:
        prof = profiles.load(device)
        chosen.setdefault(prof.id, prof)
    if plan.tags:
        matched = False
        for _, found in profiles.all_profiles():
            if isinstance(found, Profile) and set(found.tags) & set(plan.tags):
                chosen.setdefault(found.id, found)
                matched = True
        if not matched and not plan.devices:
            raise ConfigError(f"plan '{plan.name}': no profile has any of the tags {', '.join(plan.tags)}")
    return list(chosen.values())


def cell_key(device: str, model: str, converter: str, threads: int | None) -> str:
    """The same cell across runs: ``device/model/converter/t<threads|default>``."""
    return f"{device}/{model}/{converter}/t{threads if threads is not None else 'default'}"


def expand(plan: Plan, boards: list[Profile]) -> list[dict]:
    """Every cell of the plan as a PlanCell row (dict), in execution order per board."""
    import testbed_zoo

    from ..convert import converters_for
    from ..converters import registry

    convs = registry.select(plan.formats, plan.sources, plan.quantization)
    cells: list[dict] = []
    for prof in boards:
        for model_id in plan.models:
            model = testbed_zoo.load(model_id)
            for conv in converters_for(model, convs):
                if conv.runtime not in prof.runtimes or (plan.runtimes and conv.runtime not in plan.runtimes):
                    continue
                for threads in plan.threads:
                    cells.append({"key": cell_key(prof.id, model_id, conv.name, threads), "device": prof.id,
                                  "model": model_id, "converter": conv.name, "format": conv.format,
                                  "source": conv.source, "quantization": conv.quantization,
                                  "runtime": conv.runtime, "threads": threads, "repeats": plan.repeats})
    if not cells:
        raise ConfigError(f"plan '{plan.name}' has no cells: no converter matches its formats/sources/"
                          "quantization on the runtimes of its boards")
    return cells


def deploy_options(plan: Plan, threads: int | None, timeout_s: float | None) -> DeployOptions:
    """DeployOptions for one cell. Plan measure settings that this testbed's deploy does not know are
    a ConfigError (never silently dropped)."""
    from ..sustain import parse_window
    from .request import DeployOptions

    known = {f.name for f in dataclasses.fields(DeployOptions)}
    wanted: dict[str, Any] = {"warmup": plan.measure.warmup, "iterations": plan.measure.iterations,
                              "preset": plan.measure.preset, "sustain_s": parse_window(plan.measure.sustain),
                              **plan.measure.options}
    unknown = sorted(k for k, v in wanted.items() if v is not None and k not in known)
    if unknown:
        raise ConfigError(f"plan '{plan.name}': key 'measure.{unknown[0]}': this testbed's deploy has no option "
                          f"'{unknown[0]}' (it has: {', '.join(sorted(known))})")
    fixed = {"formats", "sources", "quantizations", "threads", "timeout_s"}
    clash = sorted(set(plan.measure.options) & fixed)
    if clash:
        raise ConfigError(f"plan '{plan.name}': key 'measure.options.{clash[0]}': set by the plan itself "
                          "(formats/sources/quantization/threads/execution.cell_timeout_s)")
    kwargs = {k: v for k, v in wanted.items() if v is not None}
    return DeployOptions(threads=threads, timeout_s=timeout_s, **kwargs)
