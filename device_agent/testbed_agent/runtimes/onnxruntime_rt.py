"""ONNX Runtime, on the CPU execution provider unless the settings name others.

Settings (``runtime_settings.onnxruntime``; the intra-op thread count travels as ``threads``):

* ``providers``: execution providers in order of preference, e.g. ``[XnnpackExecutionProvider,
  CPUExecutionProvider]``; each must be in this build's ``get_available_providers()`` (ONNX
  Runtime would otherwise fall back silently).
* ``graph_optimization_level``: ``disable`` | ``basic`` | ``extended`` | ``all`` (ORT's default).
* ``inter_op_threads``: threads between independent nodes (only used in ``parallel`` mode).
* ``execution_mode``: ``sequential`` (default) | ``parallel``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from .base import Probe, Runtime, Session, check_keys, positive, probe_package
from .registry import register

PROVIDERS = ["CPUExecutionProvider"]
OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
              "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
EXECUTION_MODES = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}
SETTINGS = ("providers", "graph_optimization_level", "inter_op_threads", "execution_mode")


@dataclass
class OnnxRuntimeSettings:
    """``runtime_settings.onnxruntime``."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    intra_op_threads: int | None = None  # overrides the profile's threads for ORT
    inter_op_threads: int | None = None  # between nodes (execution_mode: parallel)
    providers: list[str] | None = None  # execution providers in order; null = [CPUExecutionProvider]
    graph_optimization_level: Literal["disable", "basic", "extended", "all"] | None = None  # null = ORT's (all)
    execution_mode: Literal["sequential", "parallel"] | None = None  # null = ORT's (sequential)

    def __post_init__(self) -> None:
        positive("onnxruntime", intra_op_threads=self.intra_op_threads, inter_op_threads=self.inter_op_threads)


# ONNX Runtime's input type names -> numpy's (the integer ones a converter may change).
_ORT_TYPES = {"tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16",
              "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(float)": "float32",
              "tensor(float16)": "float16", "tensor(bool)": "bool", "tensor(double)": "float64"}


class OrtSession(Session):
    """An ``onnxruntime.InferenceSession``, fed by input name."""

    def __init__(self, session: Any, options: Any, threads: int | None,
                 requested: dict[str, Any]) -> None:
        self._session = session
        inputs = session.get_inputs()
        self.input_names = [i.name for i in inputs]
        self.input_dtypes = [_ORT_TYPES.get(i.type) for i in inputs]
        self.threads = threads
        self.settings = {
            "providers": list(session.get_providers()),
            "providers_requested": requested["providers"],
            "intra_op_num_threads": threads if threads is not None
            else "0 = onnxruntime default (one thread per physical core)",
            "inter_op_num_threads": options.inter_op_num_threads,
            "execution_mode": str(options.execution_mode),
            "graph_optimization_level": str(options.graph_optimization_level),
            "inputs": [{"name": i.name, "shape": [d if isinstance(d, int) else str(d) for d in i.shape],
                        "type": i.type} for i in inputs],
        }

    def run(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``session.run(None, {name: x, ...})``; outputs are fresh arrays."""
        return list(self._session.run(None, dict(zip(self.input_names, xs, strict=True))))

    def bind(self, xs: Sequence[np.ndarray]) -> Callable[[], Any]:
        """``session.run(None, feed)`` itself, the feed dict made once: no Python frame of ours."""
        return functools.partial(self._session.run, None, dict(zip(self.input_names, xs, strict=True)))


@register
class OnnxRuntime(Runtime):
    """ONNX Runtime's Python API."""

    name = "onnxruntime"
    formats = ("onnx",)
    Settings = OnnxRuntimeSettings
    threads_setting = "intra_op_threads"
    ops_source = "onnxruntime-profiler"

    def __init__(self) -> None:
        self._ort: Any = None

    def probe(self) -> Probe:
        return probe_package("onnxruntime", "onnxruntime", "pip install onnxruntime")

    def check_settings(self, settings: Mapping[str, Any] | None) -> dict[str, Any]:
        settings = settings or {}
        check_keys(self.name, settings, SETTINGS)
        providers = settings.get("providers", PROVIDERS)
        if (not isinstance(providers, list) or not providers
                or not all(isinstance(p, str) and p for p in providers)):
            raise ValueError("runtime_settings onnxruntime.providers must be a non-empty list of "
                             "execution provider names")
        level = settings.get("graph_optimization_level")
        if level is not None and level not in OPT_LEVELS:
            raise ValueError(f"runtime_settings onnxruntime.graph_optimization_level must be one "
                             f"of {', '.join(OPT_LEVELS)}, got {level!r:.40}")
        mode = settings.get("execution_mode")
        if mode is not None and mode not in EXECUTION_MODES:
            raise ValueError(f"runtime_settings onnxruntime.execution_mode must be one of "
                             f"{', '.join(EXECUTION_MODES)}, got {mode!r:.40}")
        inter = settings.get("inter_op_threads")
        if inter is not None and (isinstance(inter, bool) or not isinstance(inter, int) or inter < 1):
            raise ValueError(f"runtime_settings onnxruntime.inter_op_threads must be an integer "
                             f">= 1, got {inter!r:.40}")
        return {"providers": list(providers), "graph_optimization_level": level,
                "execution_mode": mode, "inter_op_threads": inter}

    def prepare(self) -> None:
        import onnxruntime

        self._ort = onnxruntime

    def load(self, path: str, threads: int | None) -> Session:
        if self._ort is None:
            self.prepare()
        ort = self._ort
        opts = self.check_settings(self.options)
        available = list(ort.get_available_providers())
        missing = [p for p in opts["providers"] if p not in available]
        if missing:
            raise ValueError(f"execution provider(s) {', '.join(missing)} not in this onnxruntime "
                             f"build (available: {', '.join(available)})")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        if opts["inter_op_threads"] is not None:
            options.inter_op_num_threads = opts["inter_op_threads"]
        if opts["graph_optimization_level"] is not None:
            options.graph_optimization_level = getattr(
                ort.GraphOptimizationLevel, OPT_LEVELS[opts["graph_optimization_level"]])
        if opts["execution_mode"] is not None:
            options.execution_mode = getattr(ort.ExecutionMode,
                                             EXECUTION_MODES[opts["execution_mode"]])
        session = ort.InferenceSession(path, sess_options=options, providers=opts["providers"])
        return OrtSession(session, options, threads, opts)

    def collect_ops(self, artifact_path: str, xs: Sequence[np.ndarray], threads: int | None, session: Any,
                    runs: int, warmup: int) -> dict[str, Any]:
        from ..opprofile.ort import profile

        return profile(artifact_path, xs, threads, runs, warmup, getattr(session, "_session", None))
