"""The transport registry: the string in a profile's ``transport:`` is the registry name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..errors import ConfigError
from .base import Transport

_REGISTRY: dict[str, type[Transport]] = {}

T = TypeVar("T", bound=type[Transport])


def register(cls: T) -> T:
    """Class decorator; refuses a second transport under the same name."""
    if cls.name in _REGISTRY:
        raise ValueError(f"transport '{cls.name}' is already registered by {_REGISTRY[cls.name].__module__}")
    _REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> type[Transport]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown transport '{name}'; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)


Factory = Callable[..., Transport]
