"""Parity on every output: how far an artifact's outputs are from its source framework's, judged per
output by what the output holds (``OutputDecl.kind``).

Every output gets ``max_abs_err`` (max |delta| over all values) and ``rel_err`` (that, over the
reference's largest magnitude), plus one agreement figure in [0, 1] fitted to its kind:

* ``logits``: ``top1_agreement``, the share of samples whose arg-max class is the same;
* ``embedding``: ``cosine_min`` / ``cosine_mean`` between each sample's vector and the reference's,
  and ``rank_agreement``, the share of sample-pair comparisons whose order of similarity is the
  same (does "A is closer to B than C is to D" still hold: what retrieval and ranking use);
* ``boxes`` (``[..., 4]`` corner boxes): ``iou_mean`` / ``iou_min`` between matching boxes;
* ``tensor``: ``max_abs_err`` and ``rel_err`` (and, for more than one value a sample, the arg-max
  agreement as records before v7 had it; it does not rank such an output).

The worst output (lowest agreement, then largest relative error) is what a table shows; the record
keeps them all (``parity_outputs``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# The agreement figure that ranks an output, per kind (None: none; then rel_err ranks it).
SCORE_KEY = {"logits": "top1_agreement", "embedding": "cosine_min", "boxes": "iou_min", "tensor": None}


def output_parity(name: str, kind: str, outputs: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """One output's parity (see the module text); ``outputs`` and ``reference`` are ``[N, ...]``."""
    ref = np.asarray(reference, dtype=np.float64)
    n = int(ref.shape[0]) if ref.ndim else 1
    out = np.asarray(outputs, dtype=np.float64).reshape(ref.shape)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    err = float(np.max(np.abs(out - ref))) if ref.size else 0.0
    result: dict[str, Any] = {"name": name, "kind": kind, "n": n, "max_abs_err": err,
                              "rel_err": err / scale if scale > 0 else err}
    flat_out, flat_ref = out.reshape(n, -1), ref.reshape(n, -1)
    if kind == "logits" or (kind == "tensor" and flat_ref.shape[1] > 1):  # a tensor's arg-max: as before v7
        result["top1_agreement"] = float(np.mean(flat_out.argmax(axis=1) == flat_ref.argmax(axis=1)))
    elif kind == "embedding":
        cos = _cosine_rows(flat_out, flat_ref)
        result.update(cosine_min=float(cos.min()), cosine_mean=float(cos.mean()),
                      rank_agreement=rank_agreement(flat_out, flat_ref))
    elif kind == "boxes" and ref.shape[-1] == 4:
        iou = box_iou(out.reshape(-1, 4), ref.reshape(-1, 4))
        result.update(iou_mean=float(iou.mean()), iou_min=float(iou.min()))
    return result


def all_outputs(names: Sequence[str], kinds: Sequence[str], outputs: Sequence[np.ndarray],
                references: Sequence[np.ndarray]) -> list[dict[str, Any]]:
    """Every output's parity, in the model's order; a count that differs is a ValueError."""
    if len(outputs) != len(references):
        raise ValueError(f"the artifact returned {len(outputs)} outputs, the source model {len(references)}")
    return [output_parity(n, k, o, r) for n, k, o, r in zip(names, kinds, outputs, references, strict=False)]


def worst(per_output: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The output a table shows: the lowest agreement figure, then the largest relative error."""

    def badness(p: dict[str, Any]) -> tuple[float, float]:
        key = SCORE_KEY.get(p["kind"])
        score = p.get(key) if key else None
        return (-(score if score is not None else 1.0), p["rel_err"])

    return max(per_output, key=badness)


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    both_zero = (na == 0) & (nb == 0)
    cos = np.sum(a * b, axis=1) / np.maximum(na * nb, 1e-30)
    return np.where(both_zero, 1.0, cos)


def rank_agreement(out: np.ndarray, ref: np.ndarray) -> float | None:
    """Share of pairs of sample pairs whose similarity order (cosine) is the same in ``out`` as in
    ``ref`` (Kendall-style concordance over the pairwise similarities; ties in ``ref`` skipped).
    None below 3 samples (one pair: nothing to order)."""
    n = out.shape[0]
    if n < 3:
        return None
    iu = np.triu_indices(n, k=1)
    sim_out, sim_ref = _cosine_matrix(out)[iu], _cosine_matrix(ref)[iu]
    d_ref = np.sign(sim_ref[:, None] - sim_ref[None, :])
    d_out = np.sign(sim_out[:, None] - sim_out[None, :])
    mask = np.triu(np.ones_like(d_ref, dtype=bool), k=1) & (d_ref != 0)
    return float(np.mean(d_ref[mask] == d_out[mask])) if mask.any() else 1.0


def _cosine_matrix(x: np.ndarray) -> np.ndarray:
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    return np.asarray(unit @ unit.T)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching ``[x1, y1, x2, y2]`` boxes (two empty boxes: 1)."""
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    area = (np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
            + np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None))
    union = area - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-30), 1.0)
