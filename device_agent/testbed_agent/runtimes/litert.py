"""LiteRT (formerly TensorFlow Lite): ``ai_edge_litert``, falling back to ``tflite_runtime``.

Settings (``runtime_settings.litert``): ``xnnpack: false`` builds the interpreter with
``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (the built-in kernels without the XNNPACK
delegate LiteRT applies by default); ``true`` or absent keeps ``OpResolverType.AUTO``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .base import (
    Probe,
    Runtime,
    Session,
    check_keys,
    dist_version,
    module_present,
    positive,
    single_input_error,
    unavailable,
)
from .registry import register

# (python module, distribution) in order of preference.
_PACKAGES = (("ai_edge_litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime"))
OPS_REASON = ("per-op profiling is not exposed by the LiteRT Python API (the Interpreter has no "
              "profiler hook: only experimental_force_delegate_node_profiling, with no way to "
              "attach a profiler or read its data); use LiteRT's benchmark_model "
              "--enable_op_profiling on the board")


@dataclass
class LiteRTSettings:
    """``runtime_settings.litert``."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    threads: int | None = None  # overrides the profile's threads for LiteRT
    xnnpack: bool | None = None  # false: OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES; null/true: AUTO

    def __post_init__(self) -> None:
        positive("litert", threads=self.threads)


class LiteRTSession(Session):
    """A LiteRT Interpreter with tensors allocated."""

    def __init__(self, interpreter: Any, threads: int | None, module: str, xnnpack: bool) -> None:
        self._interp = interpreter
        inputs = interpreter.get_input_details()
        if len(inputs) != 1:
            raise single_input_error("litert", len(inputs))
        self._input = inputs[0]["index"]
        self._outputs = [d["index"] for d in interpreter.get_output_details()]
        self.threads = threads
        self.settings = {
            "module": module,
            "num_threads": threads if threads is not None
            else "default (None passed to Interpreter: LiteRT picks its own thread count)",
            "xnnpack": xnnpack,
            "op_resolver": "AUTO (built-in ops with the default XNNPACK delegate)" if xnnpack
            else "BUILTIN_WITHOUT_DEFAULT_DELEGATES (built-in kernels, XNNPACK delegate off)",
            "delegates": "none added",
            "input_shape": [int(v) for v in inputs[0]["shape"]],
            "input_dtype": np.dtype(inputs[0]["dtype"]).name,
        }

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """set_tensor, invoke, get_tensor for every output (get_tensor copies)."""
        self._interp.set_tensor(self._input, x)
        self._interp.invoke()
        return [self._interp.get_tensor(i) for i in self._outputs]

    infer = run  # the timed call is run() itself: set_tensor, invoke, get_tensor (no extra frame)


@register
class LiteRT(Runtime):
    """LiteRT's Python Interpreter."""

    name = "litert"
    formats = ("tflite",)
    Settings = LiteRTSettings

    def __init__(self) -> None:
        self._interpreter_cls: Any = None
        self._resolver: Any = None
        self._module: str | None = None

    def check_settings(self, settings: Mapping[str, Any] | None) -> dict[str, Any]:
        settings = settings or {}
        check_keys(self.name, settings, ("xnnpack",))
        xnnpack = settings.get("xnnpack", True)
        if not isinstance(xnnpack, bool):
            raise ValueError(f"runtime_settings litert.xnnpack must be true or false, got {xnnpack!r:.40}")
        return {"xnnpack": xnnpack}

    def probe(self) -> Probe:
        for module, dist in _PACKAGES:
            if module_present(module):
                return Probe(True, dist_version(dist), None)
        return Probe(False, None, "neither ai_edge_litert nor tflite_runtime is installed; "
                     "pip install ai-edge-litert")

    def prepare(self) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
            self._module = "ai_edge_litert"
        except ImportError:
            from tflite_runtime.interpreter import Interpreter, OpResolverType
            self._module = "tflite_runtime"
        self._interpreter_cls = Interpreter
        self._resolver = OpResolverType

    def load(self, path: str, threads: int | None) -> Session:
        if self._interpreter_cls is None:
            self.prepare()
        xnnpack = self.check_settings(self.options)["xnnpack"]
        resolver = (self._resolver.AUTO if xnnpack
                    else self._resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter = self._interpreter_cls(model_path=path, num_threads=threads,
                                            experimental_op_resolver_type=resolver)
        interpreter.allocate_tensors()
        return LiteRTSession(interpreter, threads, self._module or "", xnnpack)

    def collect_ops(self, artifact_path: str, x: np.ndarray, threads: int | None, session: Any,
                    runs: int, warmup: int) -> dict[str, Any]:
        return unavailable("none", OPS_REASON)
