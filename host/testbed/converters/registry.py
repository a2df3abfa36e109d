"""The converter registry (``testbed_agent.registry.Registry``): one instance per converter
name, filled by ``@register``; plug-in distributions add theirs through the
``testbed.converters`` entry-point group (docs/plugins.md)."""

from __future__ import annotations

from collections.abc import Iterable

from testbed.errors import ConfigError
from testbed_agent.registry import Registry, instance

from .base import FORMATS, QUANTIZATIONS, SOURCES, Converter

CONVERTERS: Registry[Converter] = Registry("converter", "testbed.converters", make=instance, unknown=ConfigError)

register = CONVERTERS.register
get = CONVERTERS.get


def all_converters() -> list[Converter]:
    """Every registered converter, sorted by name."""
    return CONVERTERS.values()


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
