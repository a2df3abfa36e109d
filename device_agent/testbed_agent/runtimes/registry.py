"""Registry of runtimes by name; each runtime module registers its class with ``@register``."""

from __future__ import annotations

from typing import TypeVar

from .base import Runtime

_RUNTIMES: dict[str, Runtime] = {}

R = TypeVar("R", bound=type[Runtime])


def register(cls: R) -> R:
    """Class decorator: register one instance of ``cls`` under ``cls.name``.

    Raises ValueError when the name is already taken (two runtimes may not share a name).
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"runtime class {cls.__qualname__} has no name")
    if name in _RUNTIMES:
        other = type(_RUNTIMES[name]).__qualname__
        raise ValueError(f"runtime name {name!r} is already registered by {other}")
    _RUNTIMES[name] = cls()
    return cls


def get(name: str) -> Runtime:
    """The runtime registered as ``name``; KeyError when there is none."""
    return _RUNTIMES[name]


def names() -> list[str]:
    """Registered runtime names, sorted."""
    return sorted(_RUNTIMES)


def all_runtimes() -> dict[str, Runtime]:
    """A copy of the registry, name -> runtime."""
    return dict(_RUNTIMES)
