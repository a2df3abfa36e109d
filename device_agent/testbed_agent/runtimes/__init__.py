"""Inference runtimes the agent can measure with; importing this package registers them all.

The runtime modules are light: they import the runtime itself only inside ``prepare``/``load``.
"""

from . import executorch_native, executorch_rt, litert, onnxruntime_rt  # noqa: F401  (registration side effect)
from .base import Probe, Runtime, Session
from .registry import all_runtimes, get, names, register

__all__ = ["Probe", "Runtime", "Session", "all_runtimes", "get", "names", "register"]
