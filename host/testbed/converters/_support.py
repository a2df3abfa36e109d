"""Helpers shared by the converter modules (all imports of heavy frameworks stay local)."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads, restoring the previous setting afterwards.

    Exporting with several threads on small hosts can be far slower than with one.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Swallow what tools print on Python's stdout (progress, "Saved artifact at ..." banners)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def import_tensorflow() -> Any:
    """Import TensorFlow with its C++ info logging turned down (unless the user set it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def torch_example(model: Any) -> Any:
    """The model's batch-1 NCHW example input as a torch tensor."""
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(model.example_input(layout="NCHW"), dtype=np.float32))


def keras_signature(model: Any) -> list[Any]:
    """The ``tf.TensorSpec`` input signature (batch 1, NHWC, float32) of the model's Keras form."""
    tf = import_tensorflow()
    shape = list(model.example_input(layout="NHWC").shape)
    return [tf.TensorSpec(shape, tf.float32, name="input")]
