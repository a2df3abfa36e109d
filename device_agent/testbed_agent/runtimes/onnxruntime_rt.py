"""ONNX Runtime on the CPU execution provider."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Probe, Runtime, Session, probe_package, single_input_error
from .registry import register

PROVIDERS = ["CPUExecutionProvider"]


class OrtSession(Session):
    """An ``onnxruntime.InferenceSession`` fed through its first (only) input."""

    def __init__(self, session: Any, options: Any, threads: int | None) -> None:
        self._session = session
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise single_input_error("onnxruntime", len(inputs))
        self._input = inputs[0].name
        self.threads = threads
        self.settings = {
            "providers": list(session.get_providers()),
            "intra_op_num_threads": threads if threads is not None
            else "0 = onnxruntime default (one thread per physical core)",
            "inter_op_num_threads": options.inter_op_num_threads,
            "execution_mode": str(options.execution_mode),
            "graph_optimization_level": str(options.graph_optimization_level),
            "input_name": self._input,
            "input_shape": [d if isinstance(d, int) else str(d) for d in inputs[0].shape],
            "input_type": inputs[0].type,
        }

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """``session.run(None, {input: x})``; outputs are fresh arrays."""
        return list(self._session.run(None, {self._input: x}))


@register
class OnnxRuntime(Runtime):
    """ONNX Runtime's Python API."""

    name = "onnxruntime"

    def __init__(self) -> None:
        self._ort: Any = None

    def probe(self) -> Probe:
        return probe_package("onnxruntime", "onnxruntime", "pip install onnxruntime")

    def prepare(self) -> None:
        import onnxruntime

        self._ort = onnxruntime

    def load(self, path: str, threads: int | None) -> Session:
        if self._ort is None:
            self.prepare()
        options = self._ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        session = self._ort.InferenceSession(path, sess_options=options, providers=PROVIDERS)
        return OrtSession(session, options, threads)
