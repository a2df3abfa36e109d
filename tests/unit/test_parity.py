"""Parity on every output (testbed.parity), judged by what the output holds; and the worst one."""

from __future__ import annotations

import numpy as np
import pytest

from testbed import parity
from testbed.records import References, add_parity
from testbed_agent.arrays import npy_b64


def test_logits_get_top1_agreement_and_errors() -> None:
    ref = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    out = np.array([[0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])  # the second sample's class flips
    p = parity.output_parity("logits", "logits", out, ref)
    assert p["top1_agreement"] == pytest.approx(2 / 3) and p["max_abs_err"] == pytest.approx(0.4)
    assert p["rel_err"] == pytest.approx(0.4 / 0.9) and p["n"] == 3


def test_embeddings_get_cosine_and_pair_ranking() -> None:
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((6, 16))
    same = parity.output_parity("e", "embedding", ref * 2.0, ref)  # a scaled vector points the same way
    assert same["cosine_min"] == pytest.approx(1.0) and same["rank_agreement"] == 1.0
    noisy = parity.output_parity("e", "embedding", ref + rng.standard_normal(ref.shape) * 5.0, ref)
    assert noisy["cosine_min"] < 0.6 and noisy["rank_agreement"] < 0.9
    assert parity.output_parity("e", "embedding", ref[:2], ref[:2])["rank_agreement"] is None  # one pair


def test_boxes_get_iou() -> None:
    ref = np.array([[[0.0, 0.0, 2.0, 2.0]], [[1.0, 1.0, 3.0, 3.0]]])
    out = np.array([[[0.0, 0.0, 2.0, 2.0]], [[1.0, 1.0, 3.0, 2.0]]])  # half the second box
    p = parity.output_parity("boxes", "boxes", out, ref)
    assert p["iou_min"] == pytest.approx(0.5) and p["iou_mean"] == pytest.approx(0.75)


def test_the_worst_output_is_the_lowest_agreement_then_the_largest_relative_error() -> None:
    good = {"name": "a", "kind": "logits", "top1_agreement": 1.0, "rel_err": 0.5}
    bad = {"name": "b", "kind": "embedding", "cosine_min": 0.9, "rel_err": 0.01}
    plain = {"name": "c", "kind": "tensor", "rel_err": 0.2}
    assert parity.worst([good, bad, plain])["name"] == "b"
    assert parity.worst([good, plain])["name"] == "a"  # same agreement (1.0): the larger relative error


def test_a_record_gets_every_output_and_the_worst_as_parity() -> None:
    refs = References([np.eye(3, 4), np.ones((3, 2))], ["digit", "loops"], ["logits", "logits"])
    outs = [np.eye(3, 4), np.array([[1.0, 2.0], [1.0, 1.0], [1.0, 1.0]])]
    record: dict = {}
    add_parity(record, {"outputs_npy_b64": npy_b64(outs[0]),
                        "eval_outputs_npy_b64": [npy_b64(o) for o in outs]}, refs, np.array([0, 1, 2]))
    assert [p["name"] for p in record["parity_outputs"]] == ["digit", "loops"]
    assert record["parity"]["name"] == "loops" and record["parity"]["max_abs_err"] == pytest.approx(1.0)
    assert record["accuracy"] == 1.0  # labels judge the first output
    # an agent of wire schema 2 returns the first output only: only that one is judged
    old: dict = {}
    add_parity(old, {"outputs_npy_b64": npy_b64(outs[0])}, refs, None)
    assert [p["name"] for p in old["parity_outputs"]] == ["digit"]


def test_a_different_output_count_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 outputs, the source model 1"):
        parity.all_outputs(["a"], ["tensor"], [np.ones(2), np.ones(2)], [np.ones(2)])
