"""Exceptions raised by the device agent.

Each error carries the HTTP status the API answers with; ``str(err)`` is one line that says
what went wrong and, where there is one, the fix. They never leave the process as tracebacks:
the Flask app turns them into ``{"error": str(err)}`` with ``err.status``.

    AgentError               base class (HTTP 500)
    ├── RequestError         malformed request, unknown or unavailable runtime (HTTP 400)
    │   └── UpgradeRequired  the host speaks a wire schema this agent does not (HTTP 426)
    ├── AuthError            missing or wrong agent token (HTTP 401)
    ├── NotFoundError        unknown artifact or run id (HTTP 404)
    └── ConfigError          bad command-line configuration (the CLI exits with status 2)
"""

from __future__ import annotations


class AgentError(Exception):
    """Root of every error the agent raises on purpose."""

    status: int = 500


class RequestError(AgentError):
    """The client sent something the agent cannot accept."""

    status = 400


class UpgradeRequired(RequestError):
    """Host and agent speak incompatible wire schemas (``schema``); the line names which to upgrade."""

    status = 426


class AuthError(AgentError):
    """The ``Authorization: Bearer`` token is missing or wrong."""

    status = 401


class NotFoundError(AgentError):
    """An artifact or run that the request names does not exist (or was corrupt and removed)."""

    status = 404


class ConfigError(AgentError):
    """The agent was started with an unusable configuration (no token, bad store path...)."""

    status = 500


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first useful line of an exception's message, prefixed with its type name."""
    text = str(exc).strip()
    line = ""
    for candidate in text.splitlines():
        candidate = candidate.strip()
        if candidate and not candidate.startswith(("Traceback", "File ", "^")):
            line = candidate
            break
    name = type(exc).__name__
    return f"{name}: {line}"[:limit] if line else name
