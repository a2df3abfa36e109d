"""The zoo's errors, and the root of testbed's error tree.

The zoo is a leaf: it imports nothing of the host (``testbed``) or the agent. So the root every
testbed error derives from lives here, in the lowest layer, and the host builds its tree on it
(``testbed.errors`` re-exports both classes): one ``except TestbedError`` catches a zoo error
and a host error alike.

    TestbedError      root (the host's tree hangs below it: see testbed.errors)
    └── ModelError    unknown model id, unreadable model file or spec, a model that cannot run
"""

from __future__ import annotations


class TestbedError(Exception):
    """Root of every error testbed raises on purpose. ``str(err)`` is one line with the fix."""

    __test__ = False  # not a pytest test class
    #: True when the same request may succeed later or on a fresh connection (the board's fault).
    retryable: bool = False


class ModelError(TestbedError):
    pass


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first useful line of an exception's message (tool errors are often pages long)."""
    text = str(exc).strip() or type(exc).__name__
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "File ", "^")):
            return line[:limit]
    return text.splitlines()[0][:limit]
