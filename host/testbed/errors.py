"""Exceptions raised by the testbed host controller.

Every error a user can cause or meet is one of these; third-party exceptions are converted at
the boundary (``raise ConversionError(...) from exc``) so the CLI can print one line and exit.

Each class says whether trying again can help (``retryable``). A retryable error is the *board's*
fault (it or its agent did not answer, or answered 5xx): a plan retries it with backoff on a fresh
connection and, when the retries run out, marks the board lost. Anything else is the *caller's* fault
or a finding (a bad setting, a 4xx, a failed conversion or run): the cell fails with the reason,
once, and the board carries on. ``RETRYABLE`` lists the retryable classes for ``except`` clauses.

    TestbedError                  retryable (root: testbed_zoo.errors, the leaf)
    ├── ConfigError               no      bad profile / plan / option (names the file and key)
    ├── ModelError                no      unknown model id, unreadable model file (testbed_zoo.errors)
    ├── ConversionError           no      a converter failed (becomes a failed row, never a crash)
    ├── TransportError            yes     cannot reach the board
    │   ├── HostKeyError          no      the board's SSH host key is unknown or changed
    │   └── AuthError             no      SSH authentication failed
    ├── AgentError                -       the device agent answered with an error, or not at all
    │   ├── AgentRequestError     no      HTTP 4xx: the request was wrong (a bad runtime_settings key...)
    │   │   ├── AgentAuthError    no      HTTP 401: wrong or missing agent token
    │   │   └── AgentVersionError no      host and agent speak incompatible wire schemas (HTTP 426, or
    │   │                                 the agent's /v1/info): the line names the side to upgrade
    │   └── AgentServerError      yes     HTTP 5xx, no answer, the agent did not start
    │       └── AgentStateError   yes     HTTP 404/409: the board changed under the request (the agent
    │                                     restarted and lost the run or artifact; the lease expired or
    │                                     another host holds it): a fresh connection sends it again
    └── MeasurementError          no      a run failed on the board (timeout, crash, bad artifact)

``AgentError`` itself is not raised by the HTTP client; code that raises it directly (agent install)
means "not retryable".
"""

from __future__ import annotations

# The root and ModelError live in the zoo, the leaf every other package may import (see its docstring).
from testbed_zoo.errors import ModelError, TestbedError, first_line

__all__ = ["RETRYABLE", "PERMANENT", "AgentAuthError", "AgentError", "AgentRequestError", "AgentServerError",
           "AgentStateError", "AgentVersionError", "AuthError", "ConfigError", "ConversionError", "HostKeyError",
           "MeasurementError", "ModelError", "TestbedError", "TransportError", "first_line"]


class ConfigError(TestbedError):
    pass


class ConversionError(TestbedError):
    pass


class TransportError(TestbedError):
    retryable = True


class HostKeyError(TransportError):
    retryable = False


class AuthError(TransportError):
    retryable = False


class AgentError(TestbedError):
    """``status``: the agent's HTTP status, or None when it did not answer (or for a host-side check)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AgentRequestError(AgentError):
    """HTTP 4xx: the agent refused this request; sending it again gets the same answer."""


class AgentAuthError(AgentRequestError):
    pass


class AgentVersionError(AgentRequestError):
    """Host and agent speak incompatible wire schemas (``testbed_agent.schema``): one line naming the
    side to upgrade. Retrying cannot help."""


class AgentServerError(AgentError):
    """HTTP 5xx or no answer: the board's fault."""

    retryable = True


class AgentStateError(AgentServerError):
    """HTTP 404/409 on a request that was right when it was built: the agent lost the run or artifact
    (it restarted), or the lease moved. Retried on a fresh connection, which sends the artifact and
    takes the lease again."""


class MeasurementError(TestbedError):
    pass


#: The retryable classes, for ``except`` clauses (catch the non-retryable subclasses before them).
RETRYABLE = (TransportError, AgentServerError)
#: Not retryable, and wrong for every request to the board (not just one cell): a plan stops the board.
PERMANENT = (HostKeyError, AuthError, AgentAuthError)

