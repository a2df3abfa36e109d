"""The runtime contract: probe availability cheaply, then (in the worker only) load and run.

``probe()`` and ``version()`` run in the HTTP server process and must not import the runtime
(no torch, no TensorFlow): they use ``importlib.util.find_spec`` and package metadata.
``prepare()`` and ``load()`` run in the worker subprocess, where heavy imports are fine.

Runtime settings (the profile's ``runtime_settings.<runtime>``, minus the thread count which
travels as ``threads``): ``check_settings()`` validates them without importing anything (the
server answers a bad one with HTTP 400); the worker calls ``configure()`` once before ``load()``.
A runtime that takes no settings refuses any (the default here).

A runtime is a plug-in: one module that registers its class (``@register``) and brings every fact
about it, so adding a runtime touches nothing else (docs/plugins.md):

* ``formats``: the artifact formats it runs (the converters' ``format``: ``tflite``, ``onnx``...);
* ``Settings``: its ``runtime_settings.<name>`` profile section, a dataclass the host validates
  strictly (pydantic, unknown keys refused) without the agent needing pydantic; ``threads_setting``
  names its key that overrides the profile's thread count; ``settings_from`` a runtime whose
  section this one reads when it stands in for it (executorch-native reads executorch's threads);
* ``probe()``: availability on this machine, with the reason when not;
* ``profile_ops()``: its per-op profiler (``opprofile``), or a profile saying why there is none;
* ``fallbacks``: runtimes that run its artifacts on a board where it is unavailable, in order.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import first_line
from ..opprofile import PROFILE_RUNS, PROFILE_WARMUP, unavailable

__all__ = ["Probe", "Runtime", "Session", "check_keys", "dist_version", "module_present", "positive",
           "positional_names", "probe_package", "unavailable"]

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
    """A loaded model, ready to run batch-1 inferences. A model takes one or more inputs: every
    call gets one array per input, in the model's order (``input_names``)."""

    #: The thread count applied (None = the runtime's default, explained in ``settings``).
    threads: int | None = None
    #: Every setting applied when loading, for the result JSON.
    settings: dict[str, Any]
    #: The model's inputs in its own order: the names the format keeps (ONNX, LiteRT, SavedModel),
    #: else positional ``input_0``, ``input_1``... (ExecuTorch and torch.export programs feed by position).
    input_names: list[str]
    #: The numpy type each input takes, in the same order, where the format says (None: unknown):
    #: integer inputs are cast to it when a converter changed it (``Inputs.conform``).
    input_dtypes: list[str | None] | None = None

    @abstractmethod
    def run(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Set the inputs, invoke, and return every output as a numpy array (copied)."""

    def bind(self, xs: Sequence[np.ndarray]) -> Callable[[], Any]:
        """The call the timed loop makes, bound to these inputs once: the runtime's own call,
        with whatever per-call preparation can be done once done here (feed dicts, tensor views),
        outputs left in whatever form the runtime returns them (no conversion for the harness:
        see bench/README.md). Default: ``run(xs)``."""
        return functools.partial(self.run, list(xs))


class Runtime(ABC):
    """One inference runtime (LiteRT, ONNX Runtime, ExecuTorch...)."""

    name: ClassVar[str]
    #: The artifact formats this runtime runs (a converter's ``format``).
    formats: ClassVar[tuple[str, ...]] = ()
    #: The profile's ``runtime_settings.<name>`` section: a dataclass (None: no section).
    Settings: ClassVar[type | None] = None
    #: The key of ``Settings`` that overrides the profile's thread count (travels as ``threads``).
    threads_setting: ClassVar[str] = "threads"
    #: The runtime whose profile section this one reads when it runs that one's artifacts.
    settings_from: ClassVar[str | None] = None
    #: Runtimes that run this one's artifacts where it is unavailable, in order of preference.
    fallbacks: ClassVar[tuple[str, ...]] = ()
    #: ``source`` of the per-op profiles ``collect_ops`` returns (``none``: no profiler).
    ops_source: ClassVar[str] = "none"
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

    def profile_ops(self, artifact_path: str, xs: Sequence[np.ndarray], threads: int | None, session: Any = None,
                    runs: int = PROFILE_RUNS, warmup: int = PROFILE_WARMUP) -> dict[str, Any]:
        """The per-op profile of ``artifact_path`` (a separate pass after the timed runs; see
        ``opprofile``); ``session`` is the timed one, whose options a profiling session may copy.
        Never raises: a profile is extra, it must not fail the measured run."""
        try:
            return self.collect_ops(artifact_path, xs, threads, session, runs, warmup)
        except Exception as exc:
            return unavailable(self.ops_source, f"profiling failed: {first_line(exc)}")

    def collect_ops(self, artifact_path: str, xs: Sequence[np.ndarray], threads: int | None, session: Any,
                    runs: int, warmup: int) -> dict[str, Any]:
        """The runtime's own profiler (override); the default says there is none."""
        return unavailable("none", f"no per-op profiler for runtime {self.name}")


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


def positive(runtime: str, **values: int | None) -> None:
    """ValueError unless every given value is None or an integer >= 1 (a settings dataclass's
    ``__post_init__``: the host's pydantic validation reports it against the key)."""
    for key, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"runtime_settings {runtime}.{key} must be an integer >= 1, got {value!r:.40}")


def positional_names(count: int) -> list[str]:
    """``input_0``, ``input_1``...: the names of a format that keeps none (fed by position)."""
    return [f"input_{i}" for i in range(count)]
