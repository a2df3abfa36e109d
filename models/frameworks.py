"""Lazy, quiet access to the heavy frameworks (torch, Keras) for the zoo.

Nothing here imports torch or TensorFlow at module import; each helper imports on first use.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any


def import_keras() -> ModuleType:
    """Import Keras 3 on the TensorFlow backend with TensorFlow's C++ chatter silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads, restoring the previous count afterwards.

    Small-tensor training is far faster single-threaded on few-core machines, and one thread
    also makes CPU float reductions reproducible.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def state_dict_to_numpy(module: Any) -> dict[str, Any]:
    """A torch module's state dict as numpy arrays (copies), keyed like the state dict."""
    return {key: value.detach().cpu().numpy().copy() for key, value in module.state_dict().items()}


def load_numpy_state(module: Any, weights: dict[str, Any]) -> None:
    """Load a numpy state dict (as from :func:`state_dict_to_numpy`) into a torch module."""
    import torch

    module.load_state_dict({key: torch.from_numpy(value.copy()) for key, value in weights.items()})
