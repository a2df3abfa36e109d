"""PyTorch building blocks shared by the hand-written zoo CNNs, and their seeded random init.

``ConvBN`` keeps the state-dict keys ``<prefix>.conv.weight`` and ``<prefix>.bn.*`` that
:func:`testbed_zoo.keras_blocks.conv_bn` reads. Activation names are shared with the Keras side
(``ACTIVATIONS``) so both builders are driven by the same layer plans.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .frameworks import state_dict_to_numpy, torch_threads

# Activation names used in layer plans -> torch module factories (Keras twins in keras_blocks).
ACTIVATIONS: dict[str | None, type[nn.Module]] = {
    None: nn.Identity,
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "hard_swish": nn.Hardswish,
}

BN_EPSILON = 1e-5  # torch's BatchNorm2d default


class ConvBN(nn.Module):
    """Conv2d (no bias, symmetric "same" padding) -> BatchNorm2d -> optional activation."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        act: str | None = "relu",
        eps: float = BN_EPSILON,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps)
        self.act = ACTIVATIONS[act]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Conv, normalise, activate."""
        return self.act(self.bn(self.conv(x)))


def randomize_(model: nn.Module, seed: int, stats_input: Sequence[int]) -> nn.Module:
    """Give ``model`` reproducible, non-trivial random weights in place; returns it in eval mode.

    Seeded with ``seed`` (the caller's torch RNG state is left untouched, one thread): convs
    get Kaiming-normal (fan-out) weights and conv biases U(-0.1, 0.1); linear layers N(0, 0.01)
    with biases U(-0.1, 0.1); BatchNorm gamma U(0.5, 1.5) and beta N(0, 0.2). BatchNorm running
    mean/variance are measured on one seeded random batch of shape ``stats_input`` and then
    jittered, so they are far from the trivial 0/1 and a wrong port would show, while
    activations stay in a sane range through deep nets.
    """
    with torch_threads(1), torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.uniform_(m.bias, -0.1, 0.1)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.uniform_(m.bias, -0.1, 0.1)
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.2)
        # Measure real per-channel statistics (cumulative average over one batch).
        momenta = [bn.momentum for bn in bns]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None
        model.train()
        model(torch.randn(*stats_input))
        for bn, momentum in zip(bns, momenta, strict=True):
            bn.momentum = momentum
            std = bn.running_var.sqrt()
            bn.running_mean.add_(torch.randn_like(std) * 0.1 * std)
            bn.running_var.mul_(torch.empty_like(std).uniform_(0.7, 1.3))
        model.eval()
    return model


def train_classifier(
    make_model: Callable[[], nn.Module],
    make_optimiser: Callable[[nn.Module], tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]],
    x: np.ndarray,
    y: np.ndarray,
    *,
    x_dtype: type,
    epochs: int,
    batch_size: int,
    seed: int,
    schedule_per_batch: bool = False,
    head_weights: tuple[float, ...] | None = None,
) -> dict[str, np.ndarray]:
    """Train a fresh classifier on ``(x, y)`` deterministically with cross-entropy; returns its numpy state dict.

    A model with several heads returns a tuple of logits and takes ``y`` as ``[N, heads]``: its loss
    is the ``head_weights``-weighted sum of each head's cross-entropy (default: all 1).

    One torch thread, a forked global RNG seeded with ``seed`` (the caller's RNG state is left
    untouched) and a seeded shuffling generator make the result reproducible. ``make_model`` builds
    the model under that seed; ``make_optimiser(model)`` returns ``(optimiser, lr_schedule)``, whose
    schedule steps after every batch when ``schedule_per_batch`` and after every epoch otherwise.
    """
    with torch_threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model()
        optimiser, schedule = make_optimiser(model)
        loss_fn = nn.CrossEntropyLoss()
        xs = torch.tensor(np.asarray(x, dtype=x_dtype))
        ys = torch.tensor(np.asarray(y, dtype=np.int64))
        shuffle = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(xs), generator=shuffle)
            for start in range(0, len(xs), batch_size):
                idx = order[start : start + batch_size]
                optimiser.zero_grad()
                out = model(xs[idx])
                if isinstance(out, tuple):
                    weights = head_weights or (1.0,) * len(out)
                    loss = sum(w * loss_fn(o, ys[idx, k]) for k, (o, w) in enumerate(zip(out, weights, strict=True)))
                else:
                    loss = loss_fn(out, ys[idx])
                loss.backward()
                optimiser.step()
                if schedule_per_batch:
                    schedule.step()
            if not schedule_per_batch:
                schedule.step()
        model.eval()
        return state_dict_to_numpy(model)
