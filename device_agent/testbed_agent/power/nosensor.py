"""``none``: no power sensor; power is reported missing with the reason "no sensor configured"."""

from __future__ import annotations

from .base import Reading, Sensor, SensorError, Settings
from .registry import register

REASON = "no sensor configured"


@register
class NoSensor(Sensor):
    """Never available, never reads."""

    name = "none"

    @classmethod
    def available(cls, root: str = "/", settings: Settings | None = None) -> tuple[bool, str | None]:
        return False, REASON

    def read(self) -> Reading:
        raise SensorError(REASON)
