"""PyTorch itself, the baseline the edge runtimes are compared with: a ``torch.export`` program
(``.pt2``, the ``pytorch-export-fp32`` converter's artifact) loaded with ``torch.export.load`` and
run as its eager ``module()`` under ``torch.inference_mode``. Needs torch on the board.

Settings (``runtime_settings.pytorch``): ``threads`` overrides the profile's thread count
(``torch.set_num_threads``; None = torch's default, one per physical core).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .base import Probe, Runtime, Session, positive, probe_package
from .registry import register


@dataclass
class PyTorchSettings:
    """``runtime_settings.pytorch``."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    threads: int | None = None  # overrides the profile's threads for PyTorch (torch.set_num_threads)

    def __post_init__(self) -> None:
        positive("pytorch", threads=self.threads)


class TorchSession(Session):
    """The exported program's module, called with tensors sharing the numpy inputs' memory, in
    the order of its user inputs (``input_names``: their names in the program's signature)."""

    def __init__(self, module: Any, torch: Any, threads: int | None, settings: dict[str, Any],
                 names: list[str]) -> None:
        self._module = module
        self._torch = torch
        self.input_names = names
        self.threads = threads
        self.settings = settings

    def run(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One call; every output copied out as a numpy array."""
        with self._torch.inference_mode():
            out = self._module(*[self._torch.from_numpy(np.asarray(x, order="C")) for x in xs])
        outputs = out if isinstance(out, (list, tuple)) else [out]
        return [np.array(o.numpy(), copy=True) for o in outputs]

    def bind(self, xs: Sequence[np.ndarray]) -> Callable[[], Any]:
        """``module(*tensors)`` under ``inference_mode``; the tensor views made once."""
        module, mode = self._module, self._torch.inference_mode
        tensors = [self._torch.from_numpy(np.asarray(x, order="C")) for x in xs]

        def call() -> Any:
            with mode():
                return module(*tensors)

        return call


@register
class PyTorch(Runtime):
    """torch, running a ``torch.export`` program eagerly."""

    name = "pytorch"
    formats = ("pytorch",)
    Settings = PyTorchSettings

    def __init__(self) -> None:
        self._torch: Any = None

    def probe(self) -> Probe:
        return probe_package("torch", "torch", "pip install torch (the CPU wheel is enough)")

    def prepare(self) -> None:
        # torch.export.load imports its deserializer on first use (3-8 s on a loaded 2-core machine):
        # imported here, once, in the fork server, so a run's load phase is the model's load only
        import torch
        import torch.export
        from torch._export.serde import serialize  # noqa: F401

        self._torch = torch

    def load(self, path: str, threads: int | None) -> Session:
        if self._torch is None:
            self.prepare()
        torch = self._torch
        if threads is not None:
            torch.set_num_threads(threads)
        program = torch.export.load(path)
        module = program.module()
        names = [str(n) for n in program.graph_signature.user_inputs]
        settings = {
            "api": "torch.export.load(path).module(), called under torch.inference_mode()",
            "num_threads": torch.get_num_threads(),
            "threads_setting": f"applied {threads} with torch.set_num_threads" if threads
            else "default (torch's: one thread per physical core)",
            "interop_threads": torch.get_num_interop_threads(),
        }
        return TorchSession(module, torch, threads, settings, names)
