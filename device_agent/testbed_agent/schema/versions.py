"""Schema versions, the one-line errors, and the field checks every document shares."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

SCHEMA_VERSION = 4
#: The oldest host schema this agent answers (v1 hosts sent the same fields, without ``schema``).
MIN_HOST_SCHEMA = 1
#: The oldest agent schema this host can talk to (a v1 agent refuses the ``schema`` field).
MIN_AGENT_SCHEMA = 2
#: Test-only request fields, accepted only when the agent runs with TESTBED_AGENT_ALLOW_DEBUG=1.
DEBUG_FIELDS = ("debug_sleep_s", "debug_noise", "debug_crash")


class SchemaError(ValueError):
    """A document that does not fit the schema: one line naming the field."""


class SchemaVersionError(SchemaError):
    """Host and agent speak incompatible schema versions; the message names the side to upgrade."""


def version_error(host: int, agent: int, device: str | None = None) -> str:
    """The one line for a host of schema ``host`` and an agent of schema ``agent``."""
    if host > agent:
        fix = f"upgrade the agent (testbed agent install --device {device or '<device>'})"
    else:
        fix = "upgrade the host (install this testbed checkout's newer version on the host)"
    return f"host speaks schema {host}, agent speaks {agent}: {fix}"


def check_host_schema(body: Mapping[str, Any]) -> int:
    """On the agent: the schema of a request (absent: 1); SchemaVersionError when not answered."""
    version = body.get("schema", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise SchemaError(f"schema must be an integer version, got {version!r:.40}")
    if version > SCHEMA_VERSION or version < MIN_HOST_SCHEMA:
        raise SchemaVersionError(version_error(version, SCHEMA_VERSION))
    return version


def check_agent_schema(info: Mapping[str, Any], device: str | None = None) -> int:
    """On the host: the agent's schema from its ``/v1/info`` (absent: 1, an agent from before
    schemas); SchemaVersionError when this host cannot talk to it."""
    version = info.get("schema", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise SchemaError(f"the agent's /v1/info schema must be an integer, got {version!r:.40}")
    min_host = info.get("min_host_schema", version)
    if version < MIN_AGENT_SCHEMA or (isinstance(min_host, int) and min_host > SCHEMA_VERSION):
        raise SchemaVersionError(version_error(SCHEMA_VERSION, version, device))
    return version


def _check_fields(kind: str, body: Any, allowed: tuple[str, ...], required: tuple[str, ...],
                  hint: str = "") -> None:
    if not isinstance(body, Mapping):
        raise SchemaError(f"the {kind} must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(allowed) - {"schema"})
    if unknown:
        raise SchemaError(f"unknown field(s) in the {kind}: {', '.join(unknown)}; "
                          f"allowed: {', '.join(allowed)}{hint}")
    for key in required:
        if key not in body:
            raise SchemaError(f"the {kind} needs {key}")


def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "schema")


def _required(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls)
                 if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
