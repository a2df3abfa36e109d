"""LiteRT (formerly TensorFlow Lite): ``ai_edge_litert``, falling back to ``tflite_runtime``.

Settings (``runtime_settings.litert``): ``xnnpack: false`` builds the interpreter with
``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (the built-in kernels without the XNNPACK
delegate LiteRT applies by default); ``true`` or absent keeps ``OpResolverType.AUTO``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
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
        self._inputs = [d["index"] for d in inputs]
        self.input_names = [_input_name(d, inputs) for d in inputs]
        self.input_dtypes = [np.dtype(d["dtype"]).name for d in inputs]
        self._outputs = _output_order(interpreter)
        self.threads = threads
        self.settings = {
            "module": module,
            "num_threads": threads if threads is not None
            else "default (None passed to Interpreter: LiteRT picks its own thread count)",
            "xnnpack": xnnpack,
            "op_resolver": "AUTO (built-in ops with the default XNNPACK delegate)" if xnnpack
            else "BUILTIN_WITHOUT_DEFAULT_DELEGATES (built-in kernels, XNNPACK delegate off)",
            "delegates": "none added",
            "inputs": [{"name": n, "tensor": d["name"], "shape": [int(v) for v in d["shape"]],
                        "dtype": np.dtype(d["dtype"]).name} for n, d in zip(self.input_names, inputs, strict=True)],
        }

    def run(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """set_tensor for every input, invoke, get_tensor for every output (get_tensor copies)."""
        for index, x in zip(self._inputs, xs, strict=True):
            self._interp.set_tensor(index, x)
        self._interp.invoke()
        return [self._interp.get_tensor(i) for i in self._outputs]

    def bind(self, xs: Sequence[np.ndarray]) -> Callable[[], Any]:
        """set_tensor, invoke, get_tensor as a user's loop writes them (every sample includes the
        input and output copies); the methods and indices bound once, as locals."""
        if len(xs) == 1 and len(self._outputs) == 1:  # the common case: no loops inside the call
            set_tensor, invoke, get_tensor = self._interp.set_tensor, self._interp.invoke, self._interp.get_tensor
            index, x, out = self._inputs[0], xs[0], self._outputs[0]

            def one() -> Any:
                set_tensor(index, x)
                invoke()
                return get_tensor(out)

            return one
        return functools.partial(self.run, list(xs))


def _output_order(interpreter: Any) -> list[int]:
    """The output tensors in the model's own order: its one signature's outputs (``output_0``,
    ``output_1``, ... in numeric order: a Keras model's outputs as it lists them), else the output
    details' order. The details may list them otherwise (a two-head Keras model's come back as
    ``[StatefulPartitionedCall:1, :0]``), which would compare one output with another."""
    details = [d["index"] for d in interpreter.get_output_details()]
    try:
        signatures = interpreter._get_full_signature_list()  # noqa: SLF001 - the only API with the indices
    except Exception:  # noqa: BLE001 - an interpreter without signatures: the details' order
        return details
    if len(signatures or {}) != 1:
        return details
    outputs: dict[str, int] = next(iter(signatures.values())).get("outputs") or {}
    if sorted(outputs.values()) != sorted(details):
        return details
    names = list(outputs)
    if all(re.fullmatch(r"output_\d+", n) for n in names):
        names.sort(key=lambda n: int(n.rsplit("_", 1)[1]))
    return [outputs[n] for n in names]


def _input_name(detail: dict[str, Any], details: list[dict[str, Any]]) -> str:
    """An input's name as the model's author gave it: a converter's ``serving_default_<name>:0``
    tensor name stripped to ``<name>`` (unless two inputs would then share a name)."""
    name = str(detail["name"])
    short = name.removeprefix("serving_default_").rsplit(":", 1)[0]
    shorts = [str(d["name"]).removeprefix("serving_default_").rsplit(":", 1)[0] for d in details]
    return short if short and shorts.count(short) == 1 else name


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

    def collect_ops(self, artifact_path: str, xs: Sequence[np.ndarray], threads: int | None, session: Any,
                    runs: int, warmup: int) -> dict[str, Any]:
        return unavailable("none", OPS_REASON)
