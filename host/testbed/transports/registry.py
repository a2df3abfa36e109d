"""The transport registry (``testbed_agent.registry.Registry``): the string in a profile's
``transport:`` is the registry name; plug-in distributions add transports through the
``testbed.transports`` entry-point group (docs/plugins.md)."""

from __future__ import annotations

from testbed_agent.registry import Registry

from ..errors import ConfigError
from .base import Transport

TRANSPORTS: Registry[type[Transport]] = Registry("transport", "testbed.transports", unknown=ConfigError)

register = TRANSPORTS.register
get = TRANSPORTS.get
names = TRANSPORTS.names
