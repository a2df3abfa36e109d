"""testbed.roofline: onnx-tool's count of graphs whose work is known by hand, the figures against a
peak, the per-op mapping and the table cells."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from testbed import roofline
from testbed.converters.cache import Artifact
from testbed.roofline.count import COUNT_FILE, count_onnx
from testbed.roofline.figures import by_op_type, peak_figures

PEAK = {"available": True, "fp32_gflops": 100.0, "int8_gops": 400.0, "bandwidth_gb_per_s": 10.0,
        "method": "peak_bench.c", "measured_at": "2026-11-30T00:00:00+00:00", "cached": True}


def _save(path: Path, node: onnx.NodeProto, x: list[int], y: list[int], weights: dict[str, np.ndarray]) -> Path:
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y)],
                              [numpy_helper.from_array(v, k) for k, v in weights.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.fixture
def gemm(tmp_path: Path) -> Path:
    """y = x (1x64) W (64x32) + b (32): 64*32 multiply-adds and 32 bias adds."""
    return _save(tmp_path / "gemm.onnx", helper.make_node("Gemm", ["x", "W", "B"], ["y"]), [1, 64], [1, 32],
                 {"W": np.ones((64, 32), np.float32), "B": np.ones(32, np.float32)})


@pytest.fixture
def conv(tmp_path: Path) -> Path:
    """3x3 conv, 3 -> 4 channels, 8x8, pad 1: 4*8*8 outputs of 3*3*3 multiply-adds, plus the bias."""
    return _save(tmp_path / "conv.onnx", helper.make_node("Conv", ["x", "W", "B"], ["y"], pads=[1, 1, 1, 1]),
                 [1, 3, 8, 8], [1, 4, 8, 8], {"W": np.ones((4, 3, 3, 3), np.float32), "B": np.ones(4, np.float32)})


def _art(path: Path, fmt: str = "onnx", quantization: str = "fp32", source: str = "onnx",
         runtime: str = "onnxruntime") -> Artifact:
    return Artifact(model="m", converter=f"{fmt}-x-{quantization}", source=source, format=fmt,
                    quantization=quantization, runtime=runtime, layout="NCHW", status="ok", error=None, path=path,
                    sha256="0" * 64, size_bytes=path.stat().st_size, conversion_s=None, tool_versions={}, cached=True,
                    extra={})


def test_gemm_flops_and_bytes_are_the_hand_count(gemm: Path) -> None:
    count = count_onnx(gemm)
    assert count.flops == 2 * (64 * 32 + 32)  # FLOPs = 2 x MACs; the bias add is one MAC an element
    assert count.weight_bytes == 4 * (64 * 32 + 32) and count.activation_bytes == 4 * 32
    assert count.flops_by_op_type == {"Gemm": 4160} and count.counted_by.startswith("onnx-tool ")
    saved = json.loads((gemm.parent / COUNT_FILE).read_text())  # kept beside the file it counts
    assert saved["count"]["flops"] == 4160 and saved["stamp"]["file"] == "gemm.onnx"


def test_conv_flops_are_the_hand_count(conv: Path) -> None:
    assert count_onnx(conv).flops == 2 * (4 * 8 * 8 * 3 * 3 * 3 + 4 * 8 * 8)


def test_record_figures_against_the_peak(gemm: Path) -> None:
    record = {"latency_ms": {"p50": 0.002}}  # 4160 FLOPs in 2 us: 2.08 GFLOP/s
    roof = roofline.roofline(record, PEAK, _art(gemm), None)
    assert roof["reason"] is None and roof["counted_on"] == "the artifact" and "2 x the MACs" in roof["method"]
    assert roof["flops"] == 4160 and roof["bytes"] == 8448
    assert roof["achieved_gflops"] == pytest.approx(2.08) and roof["pct_of_peak"] == pytest.approx(2.08)
    assert roof["peak_used"] == "fp32" and roof["peak"] is PEAK
    # intensity 4160 / 8448 = 0.49 FLOP/byte, left of the ridge 100 / 10 = 10: memory-bound at 4.9 GFLOP/s
    assert roof["bound"] == "memory" and roof["attainable_gflops"] == pytest.approx(4.924, rel=1e-3)
    record["roofline"] = roof
    assert roofline.cells(record) == ("2.1", "2.1 % (memory)")


def test_a_quantized_variant_uses_the_fp32_form_and_the_int8_peak(gemm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A TFLite int8-static variant: counted on the ONNX form of its source, floating weights and
    activations at one byte, against the board's int8 peak."""
    from testbed.roofline import form

    monkeypatch.setattr(form, "_fp32_form", lambda converter, model: _art(gemm))
    art = _art(gemm, fmt="tflite", quantization="int8-static", source="pytorch", runtime="litert")
    roof = roofline.roofline({"latency_ms": {"p50": 0.001}}, PEAK, art, None)
    assert roof["counted_on"] == "the ONNX form of the same model (pytorch)" and "x0.25" in roof["method"]
    assert roof["flops"] == 4160 and roof["bytes"] == 8448 // 4
    assert roof["peak_used"] == "int8" and roof["pct_of_peak"] == pytest.approx(100 * 4.16 / 400)


def test_no_peak_still_shows_achieved_with_the_reason(gemm: Path) -> None:
    record = {"latency_ms": {"p50": 0.002}}
    roof = roofline.roofline(record, {"available": False, "reason": "no C++ compiler: g++ is not on PATH"},
                             _art(gemm), None)
    assert roof["achieved_gflops"] == pytest.approx(2.08) and roof["pct_of_peak"] is None
    assert roof["peak_missing_reason"] == "the board's peak could not be measured: no C++ compiler: g++ is not on PATH"
    record["roofline"] = roof
    assert roofline.cells(record) == ("2.1", "–")


def test_a_source_without_an_onnx_form_carries_the_reason(gemm: Path) -> None:
    roof = roofline.roofline({"latency_ms": {"p50": 1.0}}, PEAK, _art(gemm, fmt="tflite", source="tflite"), None)
    assert roof["flops"] is None and roof["achieved_gflops"] is None
    assert roof["reason"] == "work not counted: no ONNX form of a tflite source here"
    assert roofline.cells({"roofline": roof}) == ("–", "–") == roofline.cells({})


def test_an_uncountable_graph_is_the_reason_not_a_guess(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    roof = roofline.roofline({"latency_ms": {"p50": 1.0}}, PEAK, _art(bad), None)
    assert roof["flops"] is None and roof["reason"].startswith("work not counted: onnx-tool cannot count bad.onnx")


def test_compute_bound_right_of_the_ridge() -> None:
    fig = peak_figures(flops=10**9, nbytes=10**6, p50_ms=20.0, peak=PEAK, quantization="fp32")
    assert fig["intensity_flop_per_byte"] == 1000 and fig["ridge_flop_per_byte"] == 10
    assert fig["bound"] == "compute" and fig["attainable_gflops"] == 100 and fig["pct_of_peak"] == 50


def test_per_op_type_maps_onnx_and_executorch_names() -> None:
    counted = {"Conv": 6_000_000, "Gemm": 200_000, "MatMul": 0, "Relu": 1000}
    ort = {"available": True, "ops": [{"op_type": "FusedConv", "ms_per_run": 0.1}, {"op_type": "Conv", "ms_per_run": 0.1},
                                      {"op_type": "Gemm", "ms_per_run": 0.01}, {"op_type": "Relu", "ms_per_run": 0.001},
                                      {"op_type": "Reshape", "ms_per_run": 0.002}]}
    table = by_op_type(counted, ort, 100.0, "onnxruntime")
    assert table["ops"]["Conv"] == {"flops": 6_000_000, "ms_per_run": 0.2, "achieved_gflops": 30.0, "pct_of_peak": 30.0}
    assert table["ops"]["Relu"]["achieved_gflops"] == 1.0 and table["unmapped_ms_per_run"] == {"Reshape": 0.002}
    et = {"available": True, "ops": [{"op_type": "Convolution (NHWC, F32) IGEMM", "ms_per_run": 0.3},
                                     {"op_type": "Fully Connected (NC, F32) GEMM", "ms_per_run": 0.02},
                                     {"op_type": "Max Pooling (NHWC, F32)", "ms_per_run": 0.01}]}
    table = by_op_type(counted, et, 100.0, "executorch")
    assert table["ops"]["Conv"]["achieved_gflops"] == 20.0 and table["ops"]["Gemm/MatMul"]["flops"] == 200_000
    assert "Relu" not in table["ops"] and table["unmapped_ms_per_run"] == {"Max Pooling (NHWC, F32)": 0.01}
    assert by_op_type(counted, {"available": False, "reason": "not exposed"}, 100.0, "litert") == {
        "available": False, "reason": "not exposed"}


def test_a_quantized_onnx_file_without_an_fp32_form_is_counted_as_it_is(gemm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from testbed.roofline import form

    def no_form(converter: str, model: object) -> Artifact:
        raise roofline.CountError("the ONNX form (onnx-file-fp32) could not be made: the file is int8")

    monkeypatch.setattr(form, "_fp32_form", no_form)
    roof = roofline.roofline({"latency_ms": {"p50": 0.002}}, PEAK, _art(gemm, quantization="int8"), None)
    assert roof["counted_on"] == "the artifact (no fp32 ONNX form of this source)" and roof["flops"] == 4160
    assert roof["peak_used"] == "int8"
