"""ExecuTorch through its Python runtime (``executorch.runtime``), which needs torch.

Threads: ExecuTorch's CPU kernels and XNNPACK share one process-wide threadpool; when a thread
count is given it is applied with ``portable_lib._unsafe_reset_threadpool`` before loading.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .base import Probe, Runtime, Session, dist_version, module_present, positional_names, positive
from .registry import register

METHOD = "forward"


@dataclass
class ExecuTorchSettings:
    """``runtime_settings.executorch`` (the native runner reads it too)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    threads: int | None = None  # overrides the profile's threads for ExecuTorch

    def __post_init__(self) -> None:
        positive("executorch", threads=self.threads)


class ExecuTorchSession(Session):
    """A loaded ``forward`` method; inputs go in by position as torch tensors wrapping the numpy
    arrays (a .pte keeps no input names)."""

    def __init__(self, method: Any, torch: Any, threads: int | None, settings: dict[str, Any]) -> None:
        self._method = method
        self._torch = torch
        self.input_names = positional_names(method.metadata.num_inputs())
        self.threads = threads
        self.settings = settings

    def _tensors(self, xs: Sequence[np.ndarray]) -> list[Any]:
        if len(xs) != len(self.input_names):
            raise ValueError(f"the executorch program takes {len(self.input_names)} inputs, {len(xs)} given")
        return [self._torch.from_numpy(np.asarray(x, order="C")) for x in xs]

    def run(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``method.execute(tensors)``; outputs are copied out of the method's buffers."""
        outputs = self._method.execute(self._tensors(xs))
        return [np.array(o.numpy() if hasattr(o, "numpy") else o, copy=True) for o in outputs]

    def bind(self, xs: Sequence[np.ndarray]) -> Callable[[], Any]:
        """``method.execute(tensors)`` itself, returning its torch tensors (fresh ones every call).
        The tensor views (``torch.from_numpy`` shares memory) are made once, not per call: that and
        the numpy copies of ``run`` were 30 % of a digits_cnn inference."""
        return functools.partial(self._method.execute, self._tensors(xs))


@register
class ExecuTorch(Runtime):
    """ExecuTorch's pybind runtime."""

    name = "executorch"
    formats = ("executorch",)
    Settings = ExecuTorchSettings
    fallbacks = ("executorch-native",)  # a board without torch runs .pte through the C++ runner
    ops_source = "etdump"

    def __init__(self) -> None:
        self._torch: Any = None
        self._runtime: Any = None
        self._portable: Any = None

    def probe(self) -> Probe:
        if not module_present("executorch"):
            return Probe(False, None, "python module executorch is not installed; "
                         "pip install executorch (with torch)")
        version = dist_version("executorch")
        if not module_present("torch"):
            return Probe(False, version, "executorch's Python runtime needs torch, which is not "
                         "installed; install torch or use the native runner")
        return Probe(True, version, None)

    def prepare(self) -> None:
        with _without_exporter():
            import executorch.extension.pybindings.portable_lib as portable
            import torch
            from executorch.runtime import Runtime as ETRuntime

        self._torch = torch
        self._portable = portable
        self._runtime = ETRuntime.get()

    def load(self, path: str, threads: int | None) -> Session:
        if self._runtime is None:
            self.prepare()
        pool = getattr(self._portable, "_unsafe_reset_threadpool", None)
        if threads is not None:
            if pool is None:
                raise ValueError("this executorch build cannot set the thread count; "
                                 "pass threads=null")
            pool(threads)
        program = self._runtime.load_program(path)
        method = program.load_method(METHOD)
        if method is None:
            raise ValueError(f"the program has no {METHOD!r} method "
                             f"(methods: {sorted(program.method_names)})")
        count = getattr(self._portable, "_threadpool_get_thread_count", lambda: None)()
        settings = {
            "method": METHOD,
            "verification": "InternalConsistency",
            "threadpool_threads": count,
            "threads_setting": f"applied {threads} with _unsafe_reset_threadpool" if threads
            else "default (ExecuTorch's threadpool size: one thread per performance core)",
            "backends": list(self._runtime.backend_registry.registered_backend_names),
        }
        return ExecuTorchSession(method, self._torch, threads, settings)

    def collect_ops(self, artifact_path: str, xs: Sequence[np.ndarray], threads: int | None, session: Any,
                    runs: int, warmup: int) -> dict[str, Any]:
        from ..opprofile.etdump import profile_python

        return profile_python(artifact_path, xs, runs, warmup)


@contextlib.contextmanager
def _without_exporter() -> Iterator[None]:
    """Import the runtime without ExecuTorch's exporter.

    ``portable_lib`` needs one decorator from ``executorch.exir._warnings``, but importing that
    runs ``executorch/exir/__init__.py``: the whole exporter (passes, capture, the program
    builder; ~10 s of a fork server's ~14 s start on a loaded 2-core machine), which running a
    ``.pte`` never uses. A bare stand-in for the ``executorch.exir`` package is in ``sys.modules``
    meanwhile, so only the submodule is imported; it is removed afterwards, so a later
    ``import executorch.exir`` (devtools) runs the real package as usual.
    """
    spec = importlib.util.find_spec("executorch")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if "executorch.exir" in sys.modules or not folders or not os.path.isdir(os.path.join(folders[0], "exir")):
        yield
        return
    stand_in = types.ModuleType("executorch.exir")
    stand_in.__path__ = [os.path.join(folders[0], "exir")]
    sys.modules["executorch.exir"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("executorch.exir") is stand_in:
            del sys.modules["executorch.exir"]
