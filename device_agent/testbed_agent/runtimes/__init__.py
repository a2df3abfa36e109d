"""Inference runtimes the agent can measure with; importing this package registers them all
(and, the first time the registry is read, the plug-ins of the ``testbed.runtimes`` entry points).
Besides the edge runtimes, ``pytorch`` and ``tensorflow`` run the frameworks themselves: the
baselines an edge path is compared with.

The runtime modules are light: they import the runtime itself only inside ``prepare``/``load``.
"""

from . import (  # noqa: F401  (registration side effect)
    executorch_native,
    executorch_rt,
    litert,
    onnxruntime_rt,
    pytorch_rt,
    tensorflow_rt,
)
from .base import Probe, Runtime, Session
from .registry import RUNTIMES, all_runtimes, get, names, register

__all__ = ["RUNTIMES", "Probe", "Runtime", "Session", "all_runtimes", "get", "names", "register"]
