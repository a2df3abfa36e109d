"""mobilenet_v3_small: hand-written MobileNetV3-Small 1.0 with seeded random weights (speed only, no eval data).

The weights are generated deterministically in PyTorch (seed 0) on first use and ported to
Keras; inputs (example, calibration, parity) are seeded standard-normal noise.
"""

from __future__ import annotations

from ..random_init import RandomInitModel


class Model(RandomInitModel):
    """MobileNetV3-Small in PyTorch and Keras with identical seeded random weights."""
