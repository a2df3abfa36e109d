"""What the worker calls: a profile's ``power:`` block in, a power record out, never an exception.

    power:
      sensor: ina219          # a registry name (see probe_all); "none" = no power
      rate_hz: 20             # sampling rate, (0, 1000]
      idle_window_s: 2        # idle baseline before the run; 0 = none (then no net figure)
      idle_valid_s: 300       # the agent reuses a measured idle baseline for this long; 0 = never
      settings: {...}         # passed to the sensor

    meter = PowerMeter(request.get("power"), idle_baseline=request.get("idle_baseline"))
    meter.start()              # starts sampling; blocks idle_window_s for the baseline, unless
                               # the agent passed a cached baseline that still holds
    ...warm-up...
    with meter.active():       # the timed loop only
        ...
    result["power"] = meter.finish(inferences=iterations)

Any failure (unknown sensor, unavailable, bad settings, a read failing mid-run) ends up as the
record's ``missing_reason``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import Sensor
from .registry import make
from .sampler import Sampler


@dataclass(frozen=True)
class PowerConfig:
    """A validated ``power:`` block."""

    sensor: str = "none"
    rate_hz: float = 20.0
    idle_window_s: float = 2.0
    settings: dict[str, Any] = field(default_factory=dict)
    idle_valid_s: float = 300.0

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> PowerConfig:
        """Validate a ``power:`` mapping; ValueError naming the bad key (for an HTTP 400)."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ValueError("power must be a mapping {sensor, rate_hz, idle_window_s, idle_valid_s, "
                             "settings}")
        unknown = set(raw) - {"sensor", "rate_hz", "idle_window_s", "idle_valid_s", "settings"}
        if unknown:
            raise ValueError(f"power: unknown keys {sorted(unknown)}")
        sensor = raw.get("sensor", "none")
        if not isinstance(sensor, str) or not sensor:
            raise ValueError("power.sensor must be a sensor name")
        try:
            rate_hz, idle_s = float(raw.get("rate_hz", 20.0)), float(raw.get("idle_window_s", 2.0))
            valid_s = float(raw.get("idle_valid_s", 300.0))
        except (TypeError, ValueError):
            raise ValueError("power.rate_hz, power.idle_window_s and power.idle_valid_s must be "
                             "numbers") from None
        if not 0 < rate_hz <= 1000:
            raise ValueError("power.rate_hz must be in (0, 1000]")
        if not 0 <= idle_s <= 600:
            raise ValueError("power.idle_window_s must be in [0, 600]")
        if not 0 <= valid_s <= 86400:
            raise ValueError("power.idle_valid_s must be in [0, 86400]")
        settings = raw.get("settings") or {}
        if not isinstance(settings, Mapping):
            raise ValueError("power.settings must be a mapping")
        return cls(sensor, rate_hz, idle_s, dict(settings), valid_s)

    def baseline_key(self) -> str:
        """What an idle baseline is valid for: the same sensor, settings, rate and window."""
        return json.dumps([self.sensor, self.rate_hz, self.idle_window_s, self.settings],
                          sort_keys=True, default=str)


class PowerMeter:
    """Open the sensor, sample it around a run, produce the record. Never raises.

    ``idle_baseline``: an idle baseline the agent measured in an earlier run with the same
    sensor settings and still holds (``{"idle_w", "idle_window_ns", "run_id", "age_s"}``): no
    idle window is taken, the record uses that baseline and says so (``idle_source``)."""

    def __init__(self, config: PowerConfig | Mapping[str, Any] | None, root: str = "/",
                 sensor: Sensor | None = None,
                 idle_baseline: Mapping[str, Any] | None = None) -> None:
        self.idle_baseline = dict(idle_baseline) if idle_baseline else None
        self.sensor: Sensor | None = sensor
        self.sampler: Sampler | None = None
        self.reason: str | None = None
        try:
            self.config = config if isinstance(config, PowerConfig) else PowerConfig.from_dict(config)
        except ValueError as exc:
            name = config.get("sensor") if isinstance(config, Mapping) else None
            self.config = PowerConfig(sensor=name if isinstance(name, str) and name else "none")
            self.reason = f"bad power config: {exc}"
            return
        try:
            if self.sensor is None:
                self.sensor = make(self.config.sensor, self.config.settings, root)
            self.sampler = Sampler(self.sensor, self.config.rate_hz)
        except Exception as exc:  # unknown name, unavailable, bad settings: power is missing
            self.reason = str(exc).strip("'\"") or type(exc).__name__

    def start(self) -> None:
        """Start sampling and take the idle baseline (blocks ``idle_window_s``)."""
        if self.sampler is not None:
            self.sampler.start()
            if self.config.idle_window_s > 0 and self.idle_baseline is None:
                self.sampler.idle(self.config.idle_window_s)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Mark the timed loop as the active window."""
        if self.sampler is None:
            yield
            return
        with self.sampler.window("active"):
            yield

    def finish(self, inferences: int) -> dict[str, Any]:
        """Stop sampling, close the sensor, return the record (``summary.summarize``)."""
        if self.sampler is None:
            return missing_record(self.config, self.reason or "power was not measured")
        self.sampler.stop()
        try:
            return self.sampler.summarize(inferences, idle_baseline=self.idle_baseline)
        finally:
            self.close()

    def close(self) -> None:
        """Stop sampling and release the sensor (for error paths; ``finish`` does it too)."""
        if self.sampler is not None:
            self.sampler.stop()
        if self.sensor is not None:
            with contextlib.suppress(Exception):
                self.sensor.close()


def missing_record(config: PowerConfig, reason: str) -> dict[str, Any]:
    """The record when no sensor could be opened: every figure None, with the reason."""
    return {"sensor": config.sensor, "what": None, "estimated": config.sensor == "estimate",
            "method": None, "rate_hz_requested": config.rate_hz, "rate_hz_achieved": None,
            "idle_window_ns": None, "active_window_ns": None, "active_duration_s": None,
            "inferences": None, "idle_w": None, "active_w": None, "energy_mj_per_inference": None,
            "energy_mj_per_inference_gross": None, "samples": [], "missing_reason": reason,
            "idle_missing_reason": None, "idle_source": None}
