"""Registry of runtimes by name (``testbed_agent.registry.Registry``): each runtime module
registers its class with ``@register``; plug-in distributions add theirs through the
``testbed.runtimes`` entry-point group (docs/plugins.md)."""

from __future__ import annotations

from ..registry import Registry, instance
from .base import Runtime

RUNTIMES: Registry[Runtime] = Registry("runtime", "testbed.runtimes", make=instance)

register = RUNTIMES.register
get = RUNTIMES.get
names = RUNTIMES.names


def all_runtimes() -> dict[str, Runtime]:
    """A copy of the registry, name -> runtime."""
    return dict(RUNTIMES.items())
