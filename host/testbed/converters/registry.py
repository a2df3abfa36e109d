"""The converter registry: one instance per converter name, filled by ``@register``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from testbed.errors import ConfigError

from .base import FORMATS, QUANTIZATIONS, SOURCES, Converter

C = TypeVar("C", bound=type[Converter])

_REGISTRY: dict[str, Converter] = {}


def register(cls: C) -> C:
    """Class decorator: instantiate ``cls`` and register it under ``cls.name``.

    Raises:
        ValueError: another converter already uses that name.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__name__} has no converter name")
    if name in _REGISTRY:
        raise ValueError(f"duplicate converter name {name!r}: {type(_REGISTRY[name]).__name__} already registered")
    _REGISTRY[name] = cls()
    return cls


def all_converters() -> list[Converter]:
    """Every registered converter, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get(name: str) -> Converter:
    """The converter called ``name``.

    Raises:
        ConfigError: no converter has that name (the message lists the known ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown converter {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def select(
    formats: list[str] | None = None,
    sources: list[str] | None = None,
    quantizations: list[str] | None = None,
) -> list[Converter]:
    """Converters matching every given filter (``None`` or empty: no filter), sorted by name.

    Raises:
        ConfigError: a filter names a format, source or quantization that does not exist.
    """
    convs = all_converters()
    _check("format", formats, {*FORMATS, *(c.format for c in convs)})
    _check("source", sources, {*SOURCES, *(c.source for c in convs)})
    _check("quantization", quantizations, {*QUANTIZATIONS, *(c.quantization for c in convs)})
    return [
        conv
        for conv in convs
        if (not formats or conv.format in formats)
        and (not sources or conv.source in sources)
        and (not quantizations or conv.quantization in quantizations)
    ]


def _check(kind: str, values: Iterable[str] | None, known: set[str]) -> None:
    for value in values or ():
        if value not in known:
            raise ConfigError(f"unknown {kind} {value!r}; known: {', '.join(sorted(known))}")
