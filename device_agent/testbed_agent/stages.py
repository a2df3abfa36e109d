"""The steps of a measurement: whatever a runtime raises inside one becomes a one-line ``StageError``
naming the step (and, past the worker's memory limit, saying so).

Shared by the Python measurement (``measure``) and the runtimes that measure by themselves (the native
ExecuTorch runner); it sits below both, so neither imports the other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .errors import first_line
from .limits import memory_limit_error, out_of_memory

#: The memory limit of this worker (one measurement per process), for the errors of ``stage``.
memory_limit_mb: int | None = None


class StageError(Exception):
    """A measurement step failed; ``str()`` names the step and the runtime's own message."""


@contextlib.contextmanager
def stage(what: str) -> Iterator[None]:
    """Turn any exception raised inside into a one-line StageError naming ``what``."""
    try:
        yield
    except StageError:
        raise
    except Exception as exc:  # the runtimes raise anything: RuntimeError, ValueError, ...
        line = first_line(exc)
        if memory_limit_mb is not None and (isinstance(exc, MemoryError) or out_of_memory(line)):
            raise StageError(memory_limit_error(memory_limit_mb, f"{what} failed: {line}")) from exc
        raise StageError(f"{what} failed: {line}") from exc
