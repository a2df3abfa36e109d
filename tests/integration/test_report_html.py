"""`testbed report RUN --html`: one self-contained file (no script, nothing fetched) that headless
Chromium opens without console errors, and whose screenshot shows the plots."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from helpers.nightly import Lab, make_lab

pytestmark = pytest.mark.integration

POWER_BOARD = """id: nbl-power
description: this machine with the CPU-utilisation power estimate (quick windows)
transport: local
runtimes: [onnxruntime]
threads: 1
measure: {warmup: 5, iterations: 300, timeout_s: 120}
power:
  sensors: [estimate]
  windows: always  # sample the estimate (by default an estimate is not sampled: power.windows auto)
  rate_hz: 50
  idle_window_s: 0.2
  min_active_s: 0.3
  settings: {estimate: {idle_w: 10.0, max_w: 45.0}}
"""
PLOT_BLUE = (0x1F, 0x77, 0xB4)  # plots.CURRENT: boxes, points and bars of this run
PARETO_RED = (0xD6, 0x27, 0x28)  # plots.FRONT
#: Tall enough for every plot: the size/latency plot comes last, below verdict lines whose length depends
#: on what the run measured (at 2000 px it ended at the bottom edge, and one longer verdict pushed it off).
SHOT_HEIGHT = 4000


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    raise RuntimeError("chromium not found: run `make test` (scripts/install-system-deps.sh installs Debian's "
                       "chromium) or `apt-get install chromium`")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lab: Lab = make_lab(tmp_path_factory.mktemp("html-lab"))
    (lab.root / "profiles" / "nbl-power.yaml").write_text(POWER_BOARD)
    plan = lab.plan("html-plan", devices=["nbl-power"], models=[lab.model("nb_html", 6), "digits_cnn"], repeats=2)
    run_ids = []
    for _ in range(2):  # a baseline, then the run reported (history has two points)
        rc, out = lab.run_json("run", "--plan", str(plan))
        assert rc in (0, 1), out
        run_ids.append(out["run_id"])
    path = lab.root / "report.html"
    proc = lab.testbed("report", run_ids[-1], "--html", str(path))
    assert proc.returncode == 0, proc.stderr
    return path


def test_the_file_is_self_contained(report: Path) -> None:
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text.lower() and "<link" not in text.lower() and "<iframe" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.I)  # nothing fetched
    assert not re.search(r"url\(\s*['\"]?https?:", text, re.I)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls  # namespaces only
    assert text.count("<svg") >= 4  # latency, Pareto, history, energy
    for heading in ("Latency distributions per variant", "Size vs latency (Pareto front)",
                    "History across runs of this plan", "Energy per inference", "Verdicts"):
        assert heading in text


def test_headless_chromium_opens_it_without_errors_and_the_screenshot_shows_the_plots(
        report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", f"--window-size=1400,{SHOT_HEIGHT}",
         report.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
               or "ERR_FILE_NOT_FOUND" in line or "net::ERR" in line]
    assert not console, console
    assert shot.exists() and shot.stat().st_size > 20_000

    import matplotlib.image

    img = (matplotlib.image.imread(shot)[:, :, :3] * 255).round().astype(np.int16)
    assert img.shape[:2] == (SHOT_HEIGHT, 1400)
    not_white = np.any(img < 245, axis=2).mean()
    assert not_white > 0.03, f"the screenshot is (nearly) blank: {not_white:.1%} non-white"

    def pixels(rgb: tuple[int, int, int]) -> int:
        return int(np.all(np.abs(img - np.array(rgb)) <= 6, axis=2).sum())

    assert pixels(PLOT_BLUE) > 200, "no plot colour (this run's boxes/points) in the screenshot"
    assert pixels(PARETO_RED) > 20, "no Pareto front in the screenshot"


def test_parquet_without_pyarrow_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from testbed.errors import ConfigError
    from testbed.report import export

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(ConfigError, match="pip install pyarrow"):
        export.write_parquet([{"run_id": "x"}], tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()
