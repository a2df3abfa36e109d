"""Exceptions raised by the testbed host controller.

Every error a user can cause or meet is one of these; third-party exceptions are converted at
the boundary (``raise ConversionError(...) from exc``) so the CLI can print one line and exit.

    TestbedError
    ├── ConfigError          bad profile / plan / option (names the file and key)
    ├── ModelError           unknown model id, unreadable model file
    ├── ConversionError      a converter failed (becomes a failed row, never a crash)
    ├── TransportError       cannot reach the board
    │   ├── HostKeyError     the board's SSH host key is unknown or changed
    │   └── AuthError        SSH authentication failed
    ├── AgentError           the device agent answered with an error
    │   └── AgentAuthError   wrong or missing agent token (HTTP 401)
    └── MeasurementError     a run failed on the board (timeout, crash, bad artifact)
"""

from __future__ import annotations


class TestbedError(Exception):
    """Root of every error testbed raises on purpose. ``str(err)`` is one line with the fix."""

    __test__ = False  # not a pytest test class


class ConfigError(TestbedError):
    pass


class ModelError(TestbedError):
    pass


class ConversionError(TestbedError):
    pass


class TransportError(TestbedError):
    pass


class HostKeyError(TransportError):
    pass


class AuthError(TransportError):
    pass


class AgentError(TestbedError):
    pass


class AgentAuthError(AgentError):
    pass


class MeasurementError(TestbedError):
    pass


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first useful line of an exception's message (tool errors are often pages long)."""
    text = str(exc).strip() or type(exc).__name__
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "File ", "^")):
            return line[:limit]
    return text.splitlines()[0][:limit]
