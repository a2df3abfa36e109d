"""`testbed deploy --device local --profile-ops`: every measured variant of digits_cnn shows achieved
GFLOP/s and % of the peak the local agent measured on this machine, per op type where there is a profile."""

from __future__ import annotations

import pytest

from helpers.cli import run_json
from testbed import roofline

pytestmark = pytest.mark.integration


def test_every_variant_has_its_roofline() -> None:
    rows = run_json("deploy", "--device", "local", "--model", "digits_cnn", "--profile-ops", "--iterations", "20",
                    "--warmup", "2", "--quant", "fp32", "--formats", "onnx,executorch,tflite", "--sources", "pytorch")
    ok = [r for r in rows if r["status"] == "ok"]
    assert {r["runtime"] for r in ok} >= {"onnxruntime", "executorch", "litert"}
    for r in ok:
        roof = r["roofline"]
        assert roof["reason"] is None and roof["flops"] == 634_900, (r["converter"], roof)  # 2 x onnx-tool's MACs
        assert roof["counted_by"].startswith("onnx-tool ")
        assert roof["counted_on"] == ("the artifact" if r["format"] == "onnx" else
                                      f"the ONNX form of the same model ({r['source']})")
        peak = roof["peak"]
        assert peak["available"] is True and peak["fp32_gflops"] > 0 and peak["bandwidth_gb_per_s"] > 0, peak
        assert roof["achieved_gflops"] > 0 and roof["pct_of_peak"] > 0 and roof["bound"] in ("compute", "memory")
        # above the peak only when the peak was taken while the CPUs were busy (and the record says so)
        assert roof["pct_of_peak"] < 100 or (peak["contended"] and "peak_note" in roof), roof
        assert roof["peak_used"] == "fp32"
        gflops, pct = roofline.cells(r)
        assert gflops != "–" and pct.endswith(f"% ({roof['bound']})")
        if r["runtime"] in ("onnxruntime", "executorch"):  # a per-op profile: convolutions mapped
            assert roof["by_op_type"]["available"] and roof["by_op_type"]["ops"]["Conv"]["flops"] > 600_000
    measured = {(r["roofline"]["peak"]["threads"], r["roofline"]["peak"]["measured_at"]) for r in ok}
    assert len(measured) == len({threads for threads, _ in measured})  # once per CPU setting, then cached
