"""Checks a ``POST /v1/runs`` body and fills in the defaults.

Every problem is one RequestError line (HTTP 400). Unknown fields are refused so that a typo
(``iteration``) is not silently replaced by a default.
"""

from __future__ import annotations

from typing import Any, Mapping

from .errors import RequestError
from .power.session import PowerConfig
from .runtimes.base import Probe
from .store import check_sha256

DEFAULT_WARMUP = 10
DEFAULT_ITERATIONS = 50
FIELDS = ("artifact_sha256", "runtime", "inputs_sha256", "threads", "warmup", "iterations",
          "min_time_s", "timeout_s", "return_outputs", "power")
#: Test-only: accepted only when the agent runs with TESTBED_AGENT_ALLOW_DEBUG=1.
DEBUG_FIELDS = ("debug_sleep_s",)


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


def _power(raw: Any) -> dict[str, Any] | None:
    """The ``power`` block (sensor, rate_hz, idle_window_s, settings), validated; None = no power."""
    if raw is None:
        return None
    try:
        config = PowerConfig.from_dict(raw)
    except ValueError as exc:
        raise RequestError(str(exc)) from exc
    return {"sensor": config.sensor, "rate_hz": config.rate_hz,
            "idle_window_s": config.idle_window_s, "settings": config.settings}


def parse_run_request(body: Any, *, default_timeout_s: float, allow_debug: bool,
                      probes: Mapping[str, Probe]) -> dict[str, Any]:
    """The normalized run request (all fields present) or RequestError.

    ``probes`` maps every runtime name this agent knows to its availability.
    """
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object (Content-Type: application/json)")
    allowed = FIELDS + (DEBUG_FIELDS if allow_debug else ())
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        hint = (" (debug_sleep_s is test-only: start the agent with TESTBED_AGENT_ALLOW_DEBUG=1)"
                if "debug_sleep_s" in unknown else "")
        raise RequestError(f"unknown field(s) in the run request: {', '.join(unknown)}; "
                           f"allowed: {', '.join(FIELDS)}{hint}")
    for key in ("artifact_sha256", "runtime", "inputs_sha256"):
        if key not in body:
            raise RequestError(f"the run request needs {key}")
    runtime = body["runtime"]
    found = probes.get(runtime) if isinstance(runtime, str) else None
    if found is None:
        raise RequestError(f"unknown runtime {runtime!r:.40}; this agent knows "
                           f"{', '.join(sorted(probes))}")
    if not found.available:
        raise RequestError(f"runtime {runtime} is not available on this board: {found.reason}")
    return_outputs = body.get("return_outputs", True)
    if not isinstance(return_outputs, bool):
        raise RequestError(f"return_outputs must be true or false, got {return_outputs!r:.40}")
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
    }
    if "debug_sleep_s" in body:
        request["debug_sleep_s"] = _number(body, "debug_sleep_s", 0.0)
    return request
