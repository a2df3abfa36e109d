"""Converters on the real digits_cnn model: real tools, real runtimes, no mocks.

Every zoo converter's artifact is built once per module into its own ``TESTBED_HOME``; the cache
tests use a fresh home each. fp32 artifacts must match their source framework within 1e-4;
quantized ones must keep top-1 agreement with it and accuracy on the held-out digits within
two points of the fp32 source model's. The ``*-file-*`` converters run on digits_cnn's own fp32
ONNX / TFLite artifacts loaded back as a user's files; a few converters run on the int32
token-id text_transformer.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import testbed_zoo
from testbed.convert import converters_for
from testbed.converters import Artifact, Converter, all_converters, build, build_all, cache_key, get, register, select
from testbed.converters import base as converters_base
from testbed.converters.base import QUANTIZATIONS, SOURCES
from testbed.converters.onnx_quant import OrtStatic
from testbed.converters.onnx_torch import OnnxTorchFp32
from testbed.converters.post_quant import PostQuantized
from testbed.errors import ConfigError, ConversionError, first_line
from testbed_agent import runtimes

pytestmark = pytest.mark.framework  # every test here converts with torch or TensorFlow

ATOL = 1e-4
MAX_ACCURACY_DROP = 0.02  # quantized accuracy on the eval set vs the fp32 source model's
MIN_TOP1_AGREEMENT = 0.9  # quantized vs source model, on the eval set
NAMES = [conv.name for conv in all_converters()]
EXPECTED = {
    "executorch-portable-fp32",
    "executorch-xnnpack-fp32",
    "executorch-xnnpack-int8-static",
    "onnx-keras-fp32",
    "onnx-keras-int8-dynamic",
    "onnx-keras-int8-static",
    "onnx-torch-fp32",
    "onnx-torch-int8-dynamic",
    "onnx-torch-int8-static",
    "pytorch-export-fp32",
    "tensorflow-savedmodel-fp32",
    "tflite-keras-fp16",
    "tflite-keras-fp32",
    "tflite-keras-int8-dynamic",
    "tflite-keras-int8-static",
    "tflite-torch-fp32",
    "tflite-torch-int8-dynamic",
    "tflite-torch-int8-static",
    "onnx-file-fp32",
    "onnx-file-fp16",
    "onnx-file-int8",
    "onnx-file-int8-dynamic",
    "onnx-file-int8-static",
    "tflite-file-fp32",
    "tflite-file-fp16",
    "tflite-file-int8",
    "tflite-file-int8-static",
}
ZOO_SOURCES = ("pytorch", "keras")
ZOO_NAMES = [name for name in NAMES if get(name).source in ZOO_SOURCES]  # what a zoo model gets
FILE_NAMES = [name for name in NAMES if get(name).source not in ZOO_SOURCES]  # a user's .onnx / .tflite
# what an fp32 user file gets: the file as is and the int8 steps over it (not the fp16/int8 passthroughs)
FP32_FILE_NAMES = [name for name in FILE_NAMES if not name.endswith(("-file-fp16", "-file-int8"))]
QUANTIZED = [name for name in ZOO_NAMES if get(name).quantization != "fp32"]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def digits() -> Any:
    return testbed_zoo.load("digits_cnn")


@pytest.fixture(scope="module")
def artifacts(digits: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Artifact]]:
    """Every zoo converter's artifact for digits_cnn, built once into a module-private home."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESTBED_HOME", str(tmp_path_factory.mktemp("conv-home")))
        yield {art.converter: art for art in build_all(digits, ZOO_NAMES)}


@pytest.fixture(scope="module")
def eval_outputs(artifacts: dict[str, Artifact], digits: Any) -> dict[str, np.ndarray]:
    """Logits of every ok artifact on the whole held-out set, run in its own runtime."""
    x, _ = digits.eval_set()
    return {name: run_artifact(art, testbed_zoo.to_layout(x, art.layout)) for name, art in artifacts.items() if art.ok}


@pytest.fixture(scope="module")
def eval_references(digits: Any) -> dict[str, np.ndarray]:
    """Logits of the source models (pytorch, keras) on the held-out set."""
    x, _ = digits.eval_set()
    return {framework: digits.reference(framework, x) for framework in ("pytorch", "keras")}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TESTBED_HOME", str(tmp_path))
    return tmp_path


# ----------------------------------------------------------------------------- runtimes


def run_artifact(art: Artifact, x: np.ndarray) -> np.ndarray:
    """Run the artifact in its own runtime, one batch-1 sample at a time; ``[N, classes]``."""
    assert art.path is not None
    outs: list[np.ndarray] = []
    if art.runtime == "onnxruntime":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        outs = [sess.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))]
    elif art.runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(art.path))
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
        for i in range(len(x)):
            interp.set_tensor(inp, x[i : i + 1])
            interp.invoke()
            outs.append(interp.get_tensor(out).copy())
    elif art.runtime == "executorch":
        import torch
        from executorch.runtime import Runtime

        method = Runtime.get().load_program(str(art.path)).load_method("forward")
        assert method is not None
        outs = [method.execute([torch.from_numpy(x[i : i + 1])])[0].numpy() for i in range(len(x))]
    elif art.runtime == "pytorch":
        import torch

        module = torch.export.load(str(art.path)).module()
        with torch.no_grad():
            outs = [module(torch.from_numpy(x[i : i + 1])).numpy() for i in range(len(x))]
    elif art.runtime == "tensorflow":
        import tarfile
        import tempfile

        import tensorflow as tf

        with tempfile.TemporaryDirectory() as folder:
            with tarfile.open(art.path) as tar:
                tar.extractall(folder, filter="data")
            loaded = tf.saved_model.load(folder)
            outs = [loaded.serve(tf.constant(x[i : i + 1])).numpy() for i in range(len(x))]
    else:  # pragma: no cover - a new runtime needs a branch here
        raise AssertionError(f"no test runner for runtime {art.runtime}")
    return np.concatenate(outs, axis=0)


class CountingOnnxTorch(OnnxTorchFp32):
    """The real ONNX converter (same name, same cache key), counting its conversions. Not registered."""

    def __init__(self) -> None:
        self.calls = 0

    def convert(self, model: Any, out_path: Path) -> dict[str, Any]:
        self.calls += 1
        return super().convert(model, out_path)


class BrokenModel:
    """A model whose frameworks raise, like a zoo model with missing weights."""

    id = "broken_cnn"

    def source_hash(self) -> str:
        return "0" * 64

    def torch_module(self) -> Any:
        raise RuntimeError("weights file digits.pt is missing\nsecond line of detail")

    def keras_model(self) -> Any:
        raise RuntimeError("weights file digits.keras is missing")

    def example_input(self, layout: str = "NCHW") -> np.ndarray:
        return np.zeros((1, 1, 8, 8) if layout == "NCHW" else (1, 8, 8, 1), dtype=np.float32)


# ----------------------------------------------------------------------------- registry


def test_registry_holds_the_conversion_matrix() -> None:
    assert set(NAMES) == EXPECTED
    for conv in all_converters():
        assert conv.quantization in QUANTIZATIONS
        assert conv.name.endswith("-" + conv.quantization) and conv.name.startswith(conv.format + "-")
        assert conv.source in SOURCES
        # the class default; a *-file-* converter's artifact takes the user's file's own (layout_for)
        assert conv.layout == {"pytorch": "NCHW", "keras": "NHWC", "onnx": "NCHW", "tflite": "NHWC"}[conv.source]
        assert conv.extension == {"executorch": ".pte", "onnx": ".onnx", "tflite": ".tflite", "pytorch": ".pt2",
                                  "tensorflow": ".tar"}[conv.format]
        assert conv.format in runtimes.get(conv.runtime).formats  # the runtime plug-in runs what it makes
        assert conv.available() == (True, None)
        assert conv.tool_versions() and "missing" not in conv.tool_versions().values()
        json.dumps(conv.options())


def test_registry_refuses_duplicate_name() -> None:
    before = [c.name for c in all_converters()]
    with pytest.raises(ValueError, match="converter name 'onnx-torch-fp32' is already registered by"):

        @register
        class Again(OnnxTorchFp32):  # noqa: F811 - same name on purpose
            pass

    assert [c.name for c in all_converters()] == before


def test_get_and_select() -> None:
    assert get("onnx-keras-fp32").source == "keras"
    with pytest.raises(ConfigError, match="unknown converter 'nope'"):
        get("nope")
    assert {c.name for c in select(["onnx"], None, ["fp32"])} == {"onnx-torch-fp32", "onnx-keras-fp32", "onnx-file-fp32"}
    assert {c.name for c in select(None, ["onnx", "tflite"], None)} == set(FILE_NAMES)
    assert {c.name for c in select(None, ["keras"], ["fp32"])} == {"onnx-keras-fp32", "tflite-keras-fp32",
                                                                 "tensorflow-savedmodel-fp32"}
    assert {c.name for c in select(["pytorch", "tensorflow"], None, None)} == {"pytorch-export-fp32",
                                                                             "tensorflow-savedmodel-fp32"}
    assert {c.name for c in select(["tflite"], ["pytorch"], None)} == {
        "tflite-torch-fp32",
        "tflite-torch-int8-dynamic",
        "tflite-torch-int8-static",
    }
    assert {c.name for c in select(["executorch"], None, None)} == {n for n in EXPECTED if n.startswith("executorch-")}
    assert {c.name for c in select(None, None, ["int8-static"])} == {
        "executorch-xnnpack-int8-static",
        "onnx-torch-int8-static",
        "onnx-keras-int8-static",
        "tflite-keras-int8-static",
        "tflite-torch-int8-static",
        "onnx-file-int8-static",
        "tflite-file-int8-static",
    }
    assert {c.name for c in select(None, None, ["fp16"])} == {"tflite-keras-fp16", "onnx-file-fp16", "tflite-file-fp16"}
    assert {c.name for c in select(None, None, ["int8"])} == {"onnx-file-int8", "tflite-file-int8"}  # a user's, as is
    assert len(select(None, None, None)) == len(EXPECTED)
    with pytest.raises(ConfigError, match="unknown format 'tfl'"):
        select(["tfl"], None, None)
    with pytest.raises(ConfigError, match="unknown quantization 'int4'"):
        select(None, None, ["int4"])


def test_choose_refuses_an_empty_selection_with_what_there_is(digits: Any) -> None:
    from testbed.convert import choose

    with pytest.raises(ConfigError) as err:
        choose(digits, ["executorch"], ["keras"], None)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("nothing matches formats executorch x sources keras x quant any for digits_cnn; ")
    assert text.endswith("digits_cnn has (format/source: quant) executorch/pytorch: fp32, int8-static; "
                         "onnx/keras: fp32, int8-dynamic, int8-static; onnx/pytorch: fp32, int8-dynamic, int8-static; "
                         "pytorch/pytorch: fp32; tensorflow/keras: fp32; "
                         "tflite/keras: fp32, fp16, int8-dynamic, int8-static; tflite/pytorch: fp32, int8-dynamic, int8-static")
    with pytest.raises(ConfigError, match=r"quant any for digits_cnn \(the board runs only litert, onnxruntime\); "
                                          r"digits_cnn has \(format/source: quant\) onnx/keras"):
        choose(digits, ["executorch"], None, None, runtimes=["litert", "onnxruntime"])
    assert [c.name for c in choose(digits, ["executorch"], None, ["fp32"]).converters] == [
        "executorch-portable-fp32", "executorch-xnnpack-fp32"]


def test_post_quantized_variants_inherit_their_base() -> None:
    """ORT and ai-edge-quantizer steps take source/layout/format from the fp32 converter they
    quantize, and its options and tool versions enter their own (hence the cache key)."""
    for name in ("onnx-torch-int8-static", "onnx-keras-int8-dynamic", "tflite-torch-int8-static", "onnx-file-int8-dynamic",
                 "tflite-file-int8-static"):
        conv = get(name)
        assert isinstance(conv, PostQuantized)
        base = conv.base()
        assert base.quantization == "fp32" and base.name == name.rsplit("-int8-", 1)[0] + "-fp32"
        assert (conv.source, conv.format, conv.runtime, conv.layout) == (base.source, base.format, base.runtime, base.layout)
        assert conv.options()["base"] == base.name and conv.options()["base_options"] == base.options()
        assert base.tool_versions().items() <= conv.tool_versions().items()
    assert "onnxruntime" in get("onnx-keras-int8-static").tool_versions()
    assert "ai-edge-quantizer" in get("tflite-torch-int8-static").tool_versions()
    # one step class per tool, shared by every base (no copies): ORT over torch/keras/file ONNX
    assert type(get("onnx-file-int8-static")).__mro__[1] is OrtStatic
    assert type(get("tflite-file-int8-static")).__mro__[1] is type(get("tflite-torch-int8-static")).__mro__[1]


class OtherOpsetOnnxTorch(OnnxTorchFp32):
    """The torch ONNX exporter with a different opset in its options. Not registered."""

    def options(self) -> dict[str, Any]:
        return {**super().options(), "opset": 17}


class StaticOnOtherBase(OrtStatic):
    """The registered ORT static step over a differently configured base. Not registered."""

    name = "onnx-torch-int8-static"
    base = OtherOpsetOnnxTorch


def test_cache_key_follows_base_options(digits: Any) -> None:
    assert cache_key(StaticOnOtherBase(), digits) != cache_key(get("onnx-torch-int8-static"), digits)


def test_import_is_light() -> None:
    code = (
        "import sys, testbed.converters; "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'onnx', 'executorch', 'litert_torch', 'tf2onnx') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- conversion + parity


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_converter_produces_artifact(name: str, artifacts: dict[str, Artifact]) -> None:
    art = artifacts[name]
    if name == "tflite-torch-fp32" and not art.ok:  # allowed to fail here, but only with a reason
        assert art.error and "\n" not in art.error
        pytest.fail(f"litert-torch failed on this host: {art.error}")
    assert art.ok, art.error
    assert art.error is None and not art.cached
    assert art.path is not None and art.path.is_file() and art.path.suffix == get(name).extension
    assert art.size_bytes == art.path.stat().st_size > 0
    assert art.sha256 and len(art.sha256) == 64
    assert art.conversion_s is not None and art.conversion_s > 0
    assert art.tool_versions == get(name).tool_versions()
    assert (art.source, art.format, art.runtime, art.layout) == (
        get(name).source,
        get(name).format,
        get(name).runtime,
        get(name).layout,
    )
    json.dumps(art.to_dict())
    if art.format == "executorch":  # delegation is reported for every ExecuTorch variant
        assert art.extra["total_nodes"] >= art.extra["delegated_nodes"] >= 0
        if "xnnpack" in name:
            assert art.extra["delegated_nodes"] > 0 and art.extra["delegated_subgraphs"] >= 1
        else:
            assert art.extra["delegated_nodes"] == 0 and art.extra["total_nodes"] > 0
    if isinstance(get(name), PostQuantized):
        base = artifacts[get(name).base.name]
        assert art.extra["base_converter"] == base.converter and art.extra["base_sha256"] == base.sha256


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_artifact_matches_reference(name: str, artifacts: dict[str, Artifact], digits: Any) -> None:
    art = artifacts[name]
    if not art.ok:
        pytest.skip(f"no artifact: {art.error}")
    x = digits.parity_inputs()
    expected = digits.reference(art.source, x)
    got = run_artifact(art, testbed_zoo.to_layout(x, art.layout))
    assert got.shape == expected.shape == (len(x), digits.spec.num_classes)
    if art.quantization == "fp32":
        assert np.abs(got - expected).max() <= ATOL
    else:  # quantized: same predictions on the parity images, logits in the same range
        assert (got.argmax(1) == expected.argmax(1)).mean() >= MIN_TOP1_AGREEMENT
        assert np.isfinite(got).all() and np.abs(got - expected).mean() < 0.1 * np.abs(expected).mean()


@pytest.mark.parametrize("name", QUANTIZED)
def test_quantized_accuracy_and_agreement(
    name: str,
    artifacts: dict[str, Artifact],
    eval_outputs: dict[str, np.ndarray],
    eval_references: dict[str, np.ndarray],
    digits: Any,
) -> None:
    """On the whole held-out set: accuracy within 2 points of the fp32 source model and
    top-1 agreement >= 0.9 with it (max abs logit error is reported, not bounded)."""
    art = artifacts[name]
    assert art.ok, art.error
    _, y = digits.eval_set()
    got, ref = eval_outputs[name], eval_references[art.source]
    accuracy, source_accuracy = float((got.argmax(1) == y).mean()), float((ref.argmax(1) == y).mean())
    agreement = float((got.argmax(1) == ref.argmax(1)).mean())
    print(f"{name}: accuracy {accuracy:.4f} (fp32 {art.source} {source_accuracy:.4f}), "
          f"top-1 agreement {agreement:.4f}, max abs err {np.abs(got - ref).max():.3g}")
    assert source_accuracy > 0.9  # the trained model is good, so the comparison means something
    assert accuracy >= source_accuracy - MAX_ACCURACY_DROP
    assert agreement >= MIN_TOP1_AGREEMENT


def test_fp32_artifacts_match_on_eval_set(
    eval_outputs: dict[str, np.ndarray], eval_references: dict[str, np.ndarray], artifacts: dict[str, Artifact]
) -> None:
    for name, got in eval_outputs.items():
        art = artifacts[name]
        if art.quantization == "fp32":
            assert np.abs(got - eval_references[art.source]).max() <= ATOL, name


def test_matrix_has_ten_ok_variants_across_formats_and_frameworks(artifacts: dict[str, Artifact]) -> None:
    ok = [art for art in artifacts.values() if art.ok]
    assert len(ok) >= 10
    assert {art.format for art in ok} == {"executorch", "onnx", "tflite", "pytorch", "tensorflow"}
    assert {art.source for art in ok} == {"pytorch", "keras"}
    assert {art.quantization for art in ok} == set(QUANTIZATIONS) - {"int8"}  # int8: a user's file as is


def test_quantized_artifacts_keep_float_io_and_are_smaller(artifacts: dict[str, Artifact]) -> None:
    """Every variant takes and returns float32 (the same inputs as fp32); int8 ones are smaller."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    for name in QUANTIZED:
        art = artifacts[name]
        fp32 = artifacts[name.rsplit("-", 2 if "-int8-" in name else 1)[0] + "-fp32"]
        assert art.size_bytes is not None and fp32.size_bytes is not None
        assert art.size_bytes < 0.7 * fp32.size_bytes, name
        if art.runtime == "litert":
            interp = Interpreter(model_path=str(art.path))
            dtypes = {d["dtype"] for d in interp.get_tensor_details()}
            assert interp.get_input_details()[0]["dtype"] == np.float32, name
            assert interp.get_output_details()[0]["dtype"] == np.float32, name
            assert (np.int8 in dtypes) == ("int8" in name), name
            assert (np.float16 in dtypes) == (name == "tflite-keras-fp16"), name
        elif art.runtime == "onnxruntime":
            sess = ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"])
            assert sess.get_inputs()[0].type == sess.get_outputs()[0].type == "tensor(float)", name
            assert art.extra["quant_nodes"], name


def test_onnx_torch_is_static_batch_one_and_checked(artifacts: dict[str, Artifact]) -> None:
    import onnx

    art = artifacts["onnx-torch-fp32"]
    proto = onnx.load(str(art.path))
    onnx.checker.check_model(proto)
    assert max(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")) >= 17
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 1, 8, 8]


# ----------------------------------------------------------------------------- cache


def test_second_build_is_cached(home: Path, digits: Any) -> None:
    conv = CountingOnnxTorch()
    first = build(conv, digits)
    assert first.ok and not first.cached and conv.calls == 1
    assert first.path is not None
    meta = first.path.parent / "meta.json"
    mtime = meta.stat().st_mtime_ns

    second = build(conv, digits)
    assert second.cached and conv.calls == 1
    assert second.sha256 == first.sha256 and second.path == first.path
    assert second.conversion_s == first.conversion_s
    assert second.extra == first.extra
    assert meta.stat().st_mtime_ns == mtime
    assert first.path.parent.parent == home / "cache" / "artifacts"


def test_corrupt_cache_entry_is_rebuilt(home: Path, digits: Any) -> None:
    conv = CountingOnnxTorch()
    first = build(conv, digits)
    assert first.path is not None
    first.path.write_bytes(b"truncated")
    again = build(conv, digits)
    assert again.ok and not again.cached and conv.calls == 2
    assert again.sha256 == first.sha256  # the exporter is deterministic
    assert build(conv, digits).cached


def test_failing_model_yields_failed_row_and_no_cache_entry(home: Path) -> None:
    arts = build_all(BrokenModel())  # quantized variants report their fp32 base's error
    assert [a.status for a in arts] == ["failed"] * len(EXPECTED)
    for art in arts:
        assert art.path is None and art.sha256 is None and not art.cached
        conv = get(art.converter)
        file_conv = conv.base.name if isinstance(conv, PostQuantized) else conv.name  # the step's base fails
        expected = {
            "pytorch": "weights file digits.pt is missing",
            "keras": "weights file digits.keras is missing",
            "onnx": f"{file_conv}: model 'broken_cnn' is not a .onnx file (only a user's onnx file is used as is)",
            "tflite": f"{file_conv}: model 'broken_cnn' is not a .tflite file (only a user's tflite file is used as is)",
        }[art.source]
        assert art.error == expected
    assert list((home / "cache" / "artifacts").iterdir()) == []


class HalfWriter(Converter):
    """Writes part of an artifact, then fails like a tool crashing mid-conversion."""

    name = "test-half-writer"
    source = "pytorch"
    format = "onnx"
    runtime = "onnxruntime"
    layout = "NCHW"
    extension = ".onnx"

    def convert(self, model: Any, out_path: Path) -> dict[str, Any]:
        out_path.write_bytes(b"half an artifact")
        try:
            raise RuntimeError("Traceback (most recent call last):\nExporterError: op 'aten::foo' unsupported\nmore")
        except RuntimeError as exc:
            raise ConversionError(f"{self.name}: {first_line(exc)}") from exc


class Unavailable(HalfWriter):
    name = "test-unavailable"
    modules = ("no_such_package_for_testbed",)


def test_tool_failure_is_one_line_and_leaves_nothing(home: Path, digits: Any) -> None:
    art = build(HalfWriter(), digits)
    assert art.status == "failed" and art.path is None
    assert art.error == "test-half-writer: ExporterError: op 'aten::foo' unsupported"
    root = home / "cache" / "artifacts"
    assert list(root.iterdir()) == []  # neither an entry nor a temporary folder


def test_unavailable_converter_fails_with_reason(home: Path, digits: Any) -> None:
    art = build(Unavailable(), digits)
    assert art.status == "failed"
    assert art.error == "not available: missing Python package(s): no_such_package_for_testbed"
    assert art.tool_versions == {}


def test_build_accepts_converter_names(home: Path, digits: Any) -> None:
    (art,) = build_all(digits, ["onnx-keras-fp32"])
    assert art.ok and art.converter == "onnx-keras-fp32"
    assert os.path.basename(str(art.path)) == "digits_cnn.onnx-keras-fp32.onnx"


class RacingConverter(Converter):
    """Different bytes on every call, like tf2onnx; its first convert() lets a second build of the same
    key publish first, as a concurrent build (another process's conversion of the same model) would."""

    name = "test-racing"
    source = "pytorch"
    format = "test-bytes"
    runtime = "onnxruntime"
    layout = "NCHW"
    extension = ".bin"
    calls = 0

    def convert(self, model: Any, out_path: Path) -> dict[str, Any]:
        type(self).calls += 1
        if type(self).calls == 1:
            build(self, model)  # the other build converts and publishes while this one runs
        out_path.write_bytes(os.urandom(64))
        return {}


def test_a_build_that_loses_the_publish_race_serves_the_published_bytes(home: Path, digits: Any) -> None:
    art = build(RacingConverter(), digits)
    assert RacingConverter.calls == 2 and art.ok and art.path is not None
    assert art.sha256 == hashlib.sha256(art.path.read_bytes()).hexdigest()  # what an upload is checked against
    assert art.size_bytes == art.path.stat().st_size
    assert build(RacingConverter(), digits).sha256 == art.sha256 and RacingConverter.calls == 2


# ----------------------------------------------------------------------------- the runtime loads what is cached


class UnloadableTflite(Converter):
    """Writes a .tflite LiteRT refuses (not a flatbuffer), like a converter that makes a bad file."""

    name = "test-unloadable-tflite"
    source = "keras"
    format = "tflite"
    runtime = "litert"
    layout = "NHWC"
    extension = ".tflite"

    def convert(self, model: Any, out_path: Path) -> dict[str, Any]:
        out_path.write_bytes(b"TFL3 but not a flatbuffer at all")
        return {}


def test_every_tflite_converter_needs_litert_for_its_load_check() -> None:
    for conv in all_converters():
        if conv.format == "tflite":
            assert "ai-edge-litert" in conv.tool_versions(), conv.name  # the check's version is in the key
    assert "ai-edge-litert" in UnloadableTflite().tool_versions()


def test_tflite_litert_cannot_load_is_a_failed_conversion_and_not_cached(home: Path, digits: Any) -> None:
    art = build(UnloadableTflite(), digits)
    assert art.status == "failed" and art.path is None and art.sha256 is None
    assert art.error is not None and art.error.startswith("test-unloadable-tflite: LiteRT cannot load the artifact: ")
    assert "\n" not in art.error
    assert list((home / "cache" / "artifacts").iterdir()) == []  # neither an entry nor a temporary folder


def test_text_transformer_dynamic_int8_embedding_fails_with_litert_reason(home: Path) -> None:
    """litert-torch's dynamic int8 quantizes the embedding table with a zero point != 0, which
    LiteRT's EMBEDDING_LOOKUP refuses in Prepare: a failed conversion with that reason (the board
    would refuse it the same way), nothing cached."""
    tokens = testbed_zoo.load("text_transformer")
    art = build("tflite-torch-int8-dynamic", tokens)
    assert art.status == "failed" and art.path is None
    assert art.error is not None
    assert art.error.startswith("tflite-torch-int8-dynamic: LiteRT cannot load the artifact: "), art.error
    assert "EMBEDDING_LOOKUP" in art.error and "zero_point" in art.error
    assert not [p for p in (home / "cache" / "artifacts").rglob("*") if "tflite-torch-int8-dynamic" in p.name]


def test_a_cache_entry_of_the_previous_format_is_not_served(home: Path, digits: Any) -> None:
    """Version-1 entries were never load-checked: one found under a key is converted again."""
    from testbed.converters import cache

    conv = get("tflite-keras-fp32")
    first = build(conv, digits)
    assert first.ok and first.path is not None
    meta_path = first.path.parent / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "cache_format": 1}))
    assert cache.CACHE_FORMAT_VERSION == 2
    again = build(conv, digits)
    assert again.ok and not again.cached
    assert json.loads(meta_path.read_text())["cache_format"] == 2


# ----------------------------------------------------------------------------- cache key: converter code

CODE_V1 = '''
from pathlib import Path
from testbed.converters.base import Converter


class Edited(Converter):
    name = "test-edited"
    source = "pytorch"
    format = "onnx"
    runtime = "onnxruntime"
    layout = "NCHW"
    extension = ".onnx"

    def convert(self, model, out_path):
        Path(out_path).write_bytes(b"made by version one")
        return {}
'''


def test_cache_key_covers_converter_code(home: Path, digits: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Editing a converter's module (options() unchanged) gives a new key and a fresh artifact."""
    module_file = tmp_path / "plugins" / "tb_edited_converter.py"
    module_file.parent.mkdir()
    module_file.write_text(CODE_V1)
    monkeypatch.syspath_prepend(str(module_file.parent))
    module = importlib.import_module("tb_edited_converter")
    try:
        first = build(module.Edited(), digits)
        assert first.ok and first.path is not None and first.path.read_bytes() == b"made by version one"
        assert build(module.Edited(), digits).cached
        key = cache_key(module.Edited(), digits)

        module_file.write_text(CODE_V1.replace("made by version one", "made by the edited version two"))
        importlib.invalidate_caches()
        module = importlib.reload(module)
        assert module.Edited().options() == {}  # nothing but the code changed
        assert cache_key(module.Edited(), digits) != key
        second = build(module.Edited(), digits)
        assert second.ok and not second.cached and second.path is not None
        assert second.path.read_bytes() == b"made by the edited version two"
        assert build(module.Edited(), digits).cached
    finally:
        sys.modules.pop("tb_edited_converter", None)


def test_implementation_files_cover_shared_modules_and_the_base() -> None:
    package = Path(converters_base.__file__).parent
    shared = {package / name for name in ("base.py", "_support.py", "post_quant.py")}
    assert shared | {package / "onnx_torch.py"} == set(get("onnx-torch-fp32").implementation_files())
    assert shared | {package / "onnx_quant.py", package / "onnx_torch.py"} == set(get("onnx-torch-int8-static").implementation_files())
    assert package / "file_passthrough.py" in get("tflite-file-int8-static").implementation_files()
    # the step and its base live in different modules: editing either changes the quantized key
    assert get("onnx-torch-int8-static").implementation_hash() != get("onnx-keras-int8-static").implementation_hash()


def test_editing_a_shared_module_changes_every_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the package stands in for the real one, so a shared module can be edited safely."""
    copy = tmp_path / "converters"
    shutil.copytree(Path(converters_base.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    conv = get("executorch-xnnpack-fp32")
    monkeypatch.setattr(converters_base, "_PACKAGE_DIR", copy)
    monkeypatch.setattr(type(conv), "implementation_files",
                        lambda self: [copy / name for name in (*converters_base.SHARED_MODULES, "executorch_pte.py")])
    before = conv.implementation_hash()
    assert before == get("executorch-xnnpack-fp32").implementation_hash()
    (copy / "_support.py").write_text((copy / "_support.py").read_text() + "\n# an edit\n")
    assert conv.implementation_hash() != before


# ----------------------------------------------------------------------------- a user's .onnx / .tflite used as is


@pytest.fixture(scope="module")
def user_files(artifacts: dict[str, Artifact], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """digits_cnn's own fp32 ONNX (NCHW) and TFLite (NHWC) artifacts, copied out and loaded as a user's files."""
    folder = tmp_path_factory.mktemp("user-files")
    models = {}
    for source, name in (("onnx", "onnx-torch-fp32"), ("tflite", "tflite-keras-fp32")):
        art = artifacts[name]
        assert art.ok and art.path is not None, art.error
        path = folder / f"user_digits{art.path.suffix}"
        shutil.copyfile(art.path, path)
        models[source] = testbed_zoo.load(str(path))
    return models


@pytest.fixture(scope="module")
def file_artifacts(user_files: dict[str, Any]) -> dict[str, Artifact]:
    return {name: build(name, user_files[get(name).source]) for name in FP32_FILE_NAMES}


def test_only_user_files_get_file_converters(user_files: dict[str, Any], digits: Any) -> None:
    everything = all_converters()
    assert [c.name for c in converters_for(digits, everything)] == ZOO_NAMES
    assert {c.name for c in converters_for(user_files["onnx"], everything)} == {n for n in FP32_FILE_NAMES if n.startswith("onnx-")}
    assert {c.name for c in converters_for(user_files["tflite"], everything)} == {
        n for n in FP32_FILE_NAMES if n.startswith("tflite-")}


def test_file_converters_use_the_file_as_is(file_artifacts: dict[str, Artifact], user_files: dict[str, Any]) -> None:
    import hashlib

    for name in ("onnx-file-fp32", "tflite-file-fp32"):
        art, model = file_artifacts[name], user_files[get(name).source]
        assert art.ok, art.error
        assert art.path is not None and art.path.read_bytes() == model.source_file().read_bytes()
        assert art.sha256 == hashlib.sha256(model.source_file().read_bytes()).hexdigest()
        assert art.layout == model.layout(art.source) == {"onnx": "NCHW", "tflite": "NHWC"}[art.source]
        assert art.runtime == {"onnx": "onnxruntime", "tflite": "litert"}[art.source]
        assert art.extra["source_file"] == str(model.source_file())


@pytest.mark.parametrize("name", [n for n in FP32_FILE_NAMES if "int8" in n])
def test_file_converters_quantize_the_file(name: str, file_artifacts: dict[str, Artifact], user_files: dict[str, Any],
                                           digits: Any) -> None:
    """ORT / ai-edge-quantizer int8 over the user's file: smaller, same predictions on real digits
    (calibrated on the seeded random inputs a user model has), float32 input kept."""
    art, model = file_artifacts[name], user_files[get(name).source]
    base = file_artifacts[get(name).base.name]
    assert art.ok, art.error
    assert art.extra["base_converter"] == base.converter and art.extra["base_sha256"] == base.sha256
    assert art.layout == base.layout and art.size_bytes is not None and base.size_bytes is not None
    assert art.size_bytes < 0.7 * base.size_bytes
    x, _ = digits.eval_set()
    x = x[:200]
    got, ref = run_artifact(art, testbed_zoo.to_layout(x, art.layout)), model.reference(art.source, x)
    agreement = float((got.argmax(1) == ref.argmax(1)).mean())
    print(f"{name}: top-1 agreement with the user's file on 200 digits {agreement:.3f}")
    assert agreement >= 0.8


def test_file_converter_on_a_zoo_model_is_one_line(home: Path, digits: Any) -> None:
    art = build("onnx-file-fp32", digits)
    assert art.status == "failed" and art.path is None
    assert art.error == "onnx-file-fp32: model 'digits_cnn' is not a .onnx file (only a user's onnx file is used as is)"


# ----------------------------------------------------------------------------- a user's file that is already quantized


@pytest.fixture(scope="module")
def quantized_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """digits_cnn made into the files users bring: its fp32 ONNX quantized by ORT the three usual
    ways (quantize_dynamic: ConvInteger/MatMulInteger; quantize_static QDQ; quantize_static
    QOperator: QLinearConv), and its TFLite full-integer int8 and fp16 artifacts."""
    from onnxruntime.quantization import QuantFormat, quantize_dynamic, quantize_static

    folder = tmp_path_factory.mktemp("quantized-user-files")
    digits = testbed_zoo.load("digits_cnn")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESTBED_HOME", str(tmp_path_factory.mktemp("quantized-home")))
        made = {name: build(name, digits) for name in ("onnx-torch-fp32", "tflite-keras-int8-static", "tflite-keras-fp16")}
    for art in made.values():
        assert art.ok and art.path is not None, art.error
    fp32 = made["onnx-torch-fp32"].path
    assert fp32 is not None
    files = {"onnx-dynamic": folder / "digits_dynamic.onnx", "onnx-qdq": folder / "digits_qdq.onnx",
             "onnx-qoperator": folder / "digits_qoperator.onnx", "tflite-int8": folder / "digits_int8.tflite",
             "tflite-fp16": folder / "digits_fp16.tflite"}
    quantize_dynamic(str(fp32), str(files["onnx-dynamic"]))
    input_name = _onnx_input_name(fp32)
    for fmt, key in ((QuantFormat.QDQ, "onnx-qdq"), (QuantFormat.QOperator, "onnx-qoperator")):
        feeds = iter([{input_name: np.asarray(x[None], dtype=np.float32)} for x in digits.calibration_set(8)])
        reader = type("Reader", (), {"get_next": lambda self, feeds=feeds: next(feeds, None)})()
        quantize_static(str(fp32), str(files[key]), reader, quant_format=fmt)
    for key, name in (("tflite-int8", "tflite-keras-int8-static"), ("tflite-fp16", "tflite-keras-fp16")):
        shutil.copyfile(str(made[name].path), files[key])
    return files


def _onnx_input_name(path: Path) -> str:
    import onnx

    return onnx.load(str(path)).graph.input[0].name


@pytest.mark.parametrize(("kind", "label", "evidence"), [
    ("onnx-dynamic", "onnx-file-int8", "ConvInteger"),
    ("onnx-qdq", "onnx-file-int8", "QuantizeLinear"),
    ("onnx-qoperator", "onnx-file-int8", "QLinearConv"),
    ("tflite-int8", "tflite-file-int8", "int8/uint8 tensors"),
])
def test_an_int8_user_file_is_labelled_int8_and_not_quantized_again(
        kind: str, label: str, evidence: str, quantized_files: dict[str, Path], home: Path) -> None:
    from testbed.convert import choose

    path = quantized_files[kind]
    model = testbed_zoo.load(str(path))
    assert model.spec.file_precision == "int8" and evidence in model.precision_evidence
    selection = choose(model, None, None, None)
    assert [c.name for c in selection.converters] == [label]
    derived = sorted(n for n in FP32_FILE_NAMES if n.startswith(label.split("-")[0]) and "-int8-" in n)
    (note,) = selection.notes
    assert note.startswith(f"{', '.join(derived)} not made: {path.name} is already int8 (")
    assert evidence in note and note.endswith("a quantized model is not quantized again")

    art = build(label, model)
    assert art.ok and art.quantization == "int8" and art.path is not None, art.error
    assert art.path.read_bytes() == path.read_bytes()
    assert art.extra["file_precision"] == "int8" and evidence in art.extra["precision_evidence"]
    # asked for by name anyway: the refusal or the right label, never a re-quantized or mislabelled artifact
    for name in derived:
        refused = build(name, model)
        assert refused.status == "failed" and refused.error == f"{name}: not made: {note.split(' not made: ')[1]}"
    static = f"{label.split('-')[0]}-file-int8-static"
    with pytest.raises(ConfigError, match=f"nothing matches .* for {model.id} \\({static} not made: .*quantized again\\)"):
        choose(model, None, None, ["int8-static"])  # only the refused step asked for: nothing, and why
    wrong = build(label.replace("-int8", "-fp32"), model)
    assert wrong.status == "failed" and wrong.error is not None and f"its variant is {label}" in wrong.error
    assert len(list((home / "cache" / "artifacts").iterdir())) == 1  # only the int8 file as is


def test_an_fp16_tflite_file_is_labelled_fp16(quantized_files: dict[str, Path], home: Path) -> None:
    from testbed.convert import choose

    model = testbed_zoo.load(str(quantized_files["tflite-fp16"]))
    assert model.spec.file_precision == "fp16" and "float16 tensors" in model.precision_evidence
    selection = choose(model, None, None, None)
    assert [c.name for c in selection.converters] == ["tflite-file-fp16"]
    assert selection.notes == [f"tflite-file-int8-static not made: digits_fp16.tflite is already fp16 "
                               f"({model.precision_evidence}): a quantized model is not quantized again"]
    art = build("tflite-file-fp16", model)
    assert art.ok and art.quantization == "fp16", art.error


# ----------------------------------------------------------------------------- int32 token ids (text_transformer)

TOKEN_CONVERTERS = ("onnx-torch-int8-static", "onnx-keras-fp32", "tflite-keras-int8-static")


@pytest.fixture(scope="module")
def tokens() -> Any:
    return testbed_zoo.load("text_transformer")


@pytest.mark.parametrize("name", TOKEN_CONVERTERS)
def test_token_model_artifacts_take_int32_ids(name: str, tokens: Any, artifacts: dict[str, Artifact]) -> None:
    """torch_example / keras_signature / calibration keep the model's int32 input: the artifact
    takes int32 ids (never a float input) and matches its source; int8 calibrates on real ids."""
    art = build(name, tokens)  # in the module's home (artifacts is active)
    assert art.ok, art.error
    assert tokens.spec.input_dtype == "int32"
    x = tokens.parity_inputs()
    assert x.dtype == np.int32
    if art.runtime == "onnxruntime":
        import onnxruntime as ort

        assert ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"]).get_inputs()[0].type == "tensor(int32)"
    else:
        from ai_edge_litert.interpreter import Interpreter

        assert Interpreter(model_path=str(art.path)).get_input_details()[0]["dtype"] == np.int32
    got, ref = run_artifact(art, x), tokens.reference(art.source, x)
    if art.quantization == "fp32":
        assert np.abs(got - ref).max() <= ATOL
    else:
        assert (got.argmax(1) == ref.argmax(1)).mean() >= MIN_TOP1_AGREEMENT
