"""Checks a ``POST /v1/runs`` body and fills in the defaults.

Every problem is one RequestError line (HTTP 400). Unknown fields are refused so that a typo
(``iteration``) is not silently replaced by a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import RequestError, UpgradeRequired
from .power.session import PowerConfig
from .runtimes import get as get_runtime
from .runtimes.base import Probe
from .schema import RUN_FIELDS, RunRequest, SchemaError, SchemaVersionError
from .store import check_sha256

DEFAULT_WARMUP = 10
DEFAULT_ITERATIONS = 50
MIN_MEMORY_LIMIT_MB = 32
#: The request's fields: the wire schema's (``schema.RunRequest``), listed there once.
FIELDS = RUN_FIELDS
#: Test-only (``schema.DEBUG_FIELDS``): accepted only when the agent runs with
#: TESTBED_AGENT_ALLOW_DEBUG=1. debug_sleep_s: sleep before loading (a hung model); debug_noise:
#: {fraction, max_sleep_s, seed} random sleeps inside that fraction of the timed runs; debug_crash:
#: segfault | abort after load.
CRASHES = ("segfault", "abort")
THERMAL_KEYS = ("cooldown_below_c", "cooldown_timeout_s")


def _int(body: dict[str, Any], key: str, default: int | None, minimum: int) -> int | None:
    value = body.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RequestError(f"{key} must be an integer >= {minimum}, got {value!r:.40}")
    return value


def _number(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise RequestError(f"{key} must be a number > 0, got {value!r:.40}")
    return float(value)


def _non_negative(body: dict[str, Any], key: str) -> float:
    value = body.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RequestError(f"{key} must be a number >= 0, got {value!r:.40}")
    return float(value)


def _optional_positive(body: dict[str, Any], key: str) -> float | None:
    if body.get(key) is None:
        return None
    return _number(body, key, 0.0)


def _runtime_settings(runtime: str, raw: Any) -> dict[str, Any]:
    """The runtime's own check (no runtime import); a bad key or value is one 400 line."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RequestError("runtime_settings must be a JSON object of this runtime's settings")
    try:
        return get_runtime(runtime).check_settings(raw)
    except ValueError as exc:
        raise RequestError(str(exc)) from exc


def _cpu_affinity(raw: Any) -> list[int] | None:
    if raw is None:
        return None
    if (not isinstance(raw, list) or not raw
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in raw)):
        raise RequestError(f"cpu_affinity must be a non-empty list of CPU numbers, got {raw!r:.60}")
    return sorted(set(raw))


def _memory_limit(raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < MIN_MEMORY_LIMIT_MB:
        raise RequestError(f"memory_limit_mb must be an integer >= {MIN_MEMORY_LIMIT_MB}, "
                           f"got {raw!r:.40}")
    return raw


def _thermal(raw: Any) -> dict[str, float | None] | None:
    """``{cooldown_below_c, cooldown_timeout_s}``: wait before the run until the CPU is cooler."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise RequestError("thermal must be an object {cooldown_below_c, cooldown_timeout_s}")
    unknown = sorted(set(raw) - set(THERMAL_KEYS))
    if unknown:
        raise RequestError(f"thermal: unknown keys {unknown}; allowed: {', '.join(THERMAL_KEYS)}")
    below = raw.get("cooldown_below_c")
    if below is not None and (isinstance(below, bool) or not isinstance(below, (int, float))
                              or not 0 < below < 150):
        raise RequestError(f"thermal.cooldown_below_c must be a temperature in (0, 150) °C, "
                           f"got {below!r:.40}")
    timeout = raw.get("cooldown_timeout_s", 120.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise RequestError(f"thermal.cooldown_timeout_s must be a number >= 0, got {timeout!r:.40}")
    return {"cooldown_below_c": None if below is None else float(below),
            "cooldown_timeout_s": float(timeout)}


def _debug_noise(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or set(raw) - {"fraction", "max_sleep_s", "seed"}:
        raise RequestError("debug_noise must be an object {fraction, max_sleep_s, seed}")
    fraction, sleep = raw.get("fraction", 0.2), raw.get("max_sleep_s", 0.002)
    seed = raw.get("seed", 0)
    if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise RequestError("debug_noise.fraction must be in (0, 1]")
    if not isinstance(sleep, (int, float)) or not 0 < sleep <= 10:
        raise RequestError("debug_noise.max_sleep_s must be in (0, 10]")
    if not isinstance(seed, int):
        raise RequestError("debug_noise.seed must be an integer")
    return {"fraction": float(fraction), "max_sleep_s": float(sleep), "seed": seed}


def _power(raw: Any) -> dict[str, Any] | None:
    """The ``power`` block (sensor, rate_hz, idle_window_s, idle_valid_s, settings), validated;
    None = no power."""
    if raw is None:
        return None
    try:
        config = PowerConfig.from_dict(raw)
    except ValueError as exc:
        raise RequestError(str(exc)) from exc
    return {"sensor": config.sensor, "rate_hz": config.rate_hz,
            "idle_window_s": config.idle_window_s, "idle_valid_s": config.idle_valid_s,
            "settings": config.settings}


def parse_run_request(body: Any, *, default_timeout_s: float, allow_debug: bool,
                      probes: Mapping[str, Probe]) -> dict[str, Any]:
    """The normalized run request (all fields present) or RequestError (HTTP 400; 426 when the
    host speaks a schema this agent does not).

    The shape (field names, types) is the wire schema's (``schema.RunRequest``); the values are
    checked here. ``probes`` maps every runtime name this agent knows to its availability.
    """
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object (Content-Type: application/json)")
    try:
        parsed = RunRequest.from_wire(body, allow_debug=allow_debug)
    except SchemaVersionError as exc:
        raise UpgradeRequired(str(exc)) from exc
    except SchemaError as exc:
        raise RequestError(str(exc)) from exc
    body = {k: v for k, v in parsed.to_wire().items() if k not in ("schema", "inputs", "lease_id")}
    runtime = body["runtime"]
    found = probes.get(runtime) if isinstance(runtime, str) else None
    if found is None:
        raise RequestError(f"unknown runtime {runtime!r:.40}; this agent knows "
                           f"{', '.join(sorted(probes))}")
    if not found.available:
        raise RequestError(f"runtime {runtime} is not available on this board: {found.reason}")
    return_outputs = body.get("return_outputs", True)
    profile_ops = body.get("profile_ops", False)
    request: dict[str, Any] = {
        "artifact_sha256": check_sha256(body["artifact_sha256"], "artifact_sha256"),
        "runtime": runtime,
        "inputs_sha256": check_sha256(body["inputs_sha256"], "inputs_sha256"),
        "threads": _int(body, "threads", None, 1),
        "warmup": _int(body, "warmup", DEFAULT_WARMUP, 0),
        "iterations": _int(body, "iterations", DEFAULT_ITERATIONS, 1),
        "timeout_s": _number(body, "timeout_s", default_timeout_s),
        "return_outputs": return_outputs,
        "min_time_s": _non_negative(body, "min_time_s"),
        "power": _power(body.get("power")),
        "warmup_min_s": _non_negative(body, "warmup_min_s"),
        "max_time_s": _optional_positive(body, "max_time_s"),
        "ci_target_pct": _optional_positive(body, "ci_target_pct"),
        "runtime_settings": _runtime_settings(runtime, body.get("runtime_settings")),
        "cpu_affinity": _cpu_affinity(body.get("cpu_affinity")),
        "memory_limit_mb": _memory_limit(body.get("memory_limit_mb")),
        "thermal": _thermal(body.get("thermal")),
    }
    if profile_ops:  # a per-op profile pass after the timed runs (opprofile)
        request["profile_ops"] = True
    if body.get("peak"):  # the board's peak for the roofline (testbed_agent.peak), cached per CPU setting
        request["peak"] = True
    if parsed.inputs is not None:
        request["inputs"] = [t.to_wire() for t in parsed.inputs]
    request["host_schema"] = parsed.schema  # the result is answered in it (RunResult.to_wire)
    max_s = request["max_time_s"]
    if max_s is not None and max_s < request["min_time_s"]:
        raise RequestError(f"max_time_s ({max_s:g}) must be >= min_time_s "
                           f"({request['min_time_s']:g})")
    if max_s is not None and max_s >= request["timeout_s"]:
        raise RequestError(f"max_time_s ({max_s:g}) must be below timeout_s "
                           f"({request['timeout_s']:g}): the run would be killed before it stops")
    if "debug_sleep_s" in body:
        request["debug_sleep_s"] = _number(body, "debug_sleep_s", 0.0)
    if "debug_noise" in body:
        request["debug_noise"] = _debug_noise(body["debug_noise"])
    if "debug_crash" in body:
        if body["debug_crash"] not in CRASHES:
            raise RequestError(f"debug_crash must be one of {', '.join(CRASHES)}")
        request["debug_crash"] = body["debug_crash"]
    return request
