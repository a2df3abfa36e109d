"""resnet18: hand-written ResNet-18 with seeded random weights (speed only, no eval data).

The weights are generated deterministically in PyTorch (seed 0) on first use and ported to
Keras; inputs (example, calibration, parity) are seeded standard-normal noise.
"""

from __future__ import annotations

from ..random_init import RandomInitModel


class Model(RandomInitModel):
    """ResNet-18 in PyTorch and Keras with identical seeded random weights."""
