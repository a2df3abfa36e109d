"""The runtime contract: probe availability cheaply, then (in the worker only) load and run.

``probe()`` and ``version()`` run in the HTTP server process and must not import the runtime
(no torch, no TensorFlow): they use ``importlib.util.find_spec`` and package metadata.
``prepare()`` and ``load()`` run in the worker subprocess, where heavy imports are fine.

Runtime settings (the profile's ``runtime_settings.<runtime>``, minus the thread count which
travels as ``threads``): ``check_settings()`` validates them without importing anything (the
server answers a bad one with HTTP 400); the worker calls ``configure()`` once before ``load()``.
A runtime that takes no settings refuses any (the default here).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Probe:
    """Whether a runtime can be used on this machine, and why not when it cannot."""

    available: bool
    version: str | None
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        """The ``/v1/info`` form: ``{"available", "version", "reason"}``."""
        return asdict(self)


class Session(ABC):
    """A loaded model, ready to run batch-1 inferences on one input array."""

    #: The thread count applied (None = the runtime's default, explained in ``settings``).
    threads: int | None = None
    #: Every setting applied when loading, for the result JSON.
    settings: dict[str, Any]

    @abstractmethod
    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Set the input, invoke, and return every output as a numpy array (copied)."""

    def infer(self, x: np.ndarray) -> Any:
        """One inference as the timed loop calls it: the runtime's own call with ``x`` as input,
        outputs left in whatever form the runtime returns them (no conversion for the harness:
        see bench/README.md). Default: ``run(x)``."""
        return self.run(x)


class Runtime(ABC):
    """One inference runtime (LiteRT, ONNX Runtime, ExecuTorch...)."""

    name: ClassVar[str]
    #: The checked settings ``configure()`` stored for the next ``load()`` (one run per worker).
    options: dict[str, Any] = {}

    def check_settings(self, settings: Mapping[str, Any] | None) -> dict[str, Any]:
        """The normalized settings, or ValueError naming the bad key. Light: no runtime import."""
        if settings:
            raise ValueError(f"runtime {self.name} takes no runtime_settings "
                             f"(got {', '.join(sorted(settings))})")
        return {}

    def configure(self, settings: Mapping[str, Any] | None) -> None:
        """Check and keep ``settings`` for ``load()``."""
        self.options = self.check_settings(settings)

    @abstractmethod
    def probe(self) -> Probe:
        """Availability without importing the runtime."""

    def version(self) -> str | None:
        """The installed runtime's version, or None when it is not installed."""
        return self.probe().version

    @abstractmethod
    def prepare(self) -> None:
        """Import the runtime (heavy; worker only). Raises when it cannot be imported."""

    @abstractmethod
    def load(self, path: str, threads: int | None) -> Session:
        """Load the artifact at ``path`` with ``threads`` (None = runtime default)."""


def module_present(module: str) -> bool:
    """True when a top-level ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def dist_version(dist: str) -> str | None:
    """The installed version of distribution ``dist`` or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def probe_package(module: str, dist: str, install_hint: str) -> Probe:
    """A Probe for a runtime shipped as Python module ``module`` in distribution ``dist``."""
    if not module_present(module):
        return Probe(False, None, f"python module {module} is not installed; {install_hint}")
    return Probe(True, dist_version(dist), None)


def check_keys(runtime: str, settings: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    """ValueError for a settings key ``runtime`` does not know (a typo is not a default)."""
    if not isinstance(settings, Mapping):
        raise ValueError(f"runtime_settings for {runtime} must be a mapping")
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ValueError(f"unknown runtime_settings for {runtime}: {', '.join(unknown)}; "
                         f"allowed: {', '.join(allowed)}")


def single_input_error(runtime: str, count: int) -> ValueError:
    """The error for a model that does not take exactly one input."""
    return ValueError(f"the {runtime} model has {count} inputs; the agent feeds exactly one "
                      "input array (export the model with a single input)")
