"""`testbed serve` as a user runs it: the real command on a loopback port (a free one, read from its ready
line) over a SQLite store holding a plan run of two nights and a deploy (tests/helpers/dashboard_store.py),
with a token. Every page is opened in one headless Chromium (tests/helpers/browser.py, DevTools protocol):
no console message, uncaught exception, failed request or error in the browser's log; the history plot
draws both nights of every line and rings the regressions; the run page carries the framework verdict.
The dashboard is read-only (POST is 405, the store file is unchanged byte for byte) and asks for its token.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from helpers.browser import Browser
from helpers.cli import TESTBED, ctrl_c_delivered, run
from helpers.dashboard_store import DashboardStore, build
from helpers.nightly import wait_for

pytestmark = [pytest.mark.integration]

#: a page is ready when it has loaded and dashboard.js has drawn every figure it holds
READY = ("document.readyState == 'complete' && (!document.querySelector('[data-figure]') "
         "|| document.body.dataset.figuresDrawn == document.querySelectorAll('[data-figure]').length)")


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT/
    token: str
    store: DashboardStore
    sha256: str  # of the store file before the server opened it
    files: list[str]  # beside it


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve")
    store = build(root)
    before, files = _sha(store.path), sorted(p.name for p in root.iterdir())
    token = secrets.token_urlsafe(18)
    log = root / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "TESTBED_SERVE_TOKEN"}
    with open(log, "w") as err:
        proc = subprocess.Popen([TESTBED, "serve", "--db", store.url, "--port", "0", "--token", token],
                                stdout=subprocess.DEVNULL, stderr=err, env=env, preexec_fn=ctrl_c_delivered)
    try:
        found = wait_for(lambda: proc.poll() is not None or re.search(r"testbed serve: (http://\S+)", log.read_text()),
                         60, "testbed serve's ready line")
        assert proc.poll() is None, log.read_text()
        assert isinstance(found, re.Match)
        yield Served(found.group(1), token, store, before, files)
        proc.send_signal(signal.SIGINT)  # Ctrl-C: stops cleanly
        assert proc.wait(timeout=30) == 0, log.read_text()
        assert "stopped" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with Browser(tmp_path_factory.mktemp("chromium")) as b:
        page = b.open(f"{served.url}?token={served.token}", READY)  # once: the cookie, then the page without it
        assert not page.problems, page.problems
        assert "token" not in b.evaluate("location.href"), "the token stays in the address bar"
        yield b


def _cell_id(served: Served, device: str, converter: str) -> int:
    from testbed.store import Store

    store = Store(served.store.url, read_only=True)
    cells = store.plan_cells(served.store.nights[-1])
    store.engine.dispose()
    return next(c.id for c in cells if c.device == device and c.converter == converter)


def test_every_page_opens_in_headless_chromium_without_a_console_message(served: Served, browser: Browser,
                                                                         tmp_path: Path) -> None:
    first, second = served.store.nights
    pages = {"overview": "", "night 1": f"runs/{first}", "night 2": f"runs/{second}",
             "deploy": f"runs/{served.store.deploy}", "cell": f"cells/{_cell_id(served, 'pi4', 'onnx-torch-fp32')}",
             "board": "boards/rk3588", "compare": f"compare?a={first}&b={second}", "compare form": "compare"}
    for name, path in pages.items():
        page = browser.open(served.url + path, READY)
        assert not page.problems, (name, page.problems)
        assert browser.evaluate("document.querySelector('.error') === null"), name
        drawn = browser.evaluate("document.querySelectorAll('[data-figure] .main-svg').length")
        figures = browser.evaluate("document.querySelectorAll('[data-figure]').length")
        assert drawn >= figures, (name, drawn, figures)  # every figure has its SVG
    browser.open(served.url + f"runs/{second}", READY)
    browser.screenshot(tmp_path / "run.png")  # kept by pytest's tmp_path (the last runs) for a look
    assert (tmp_path / "run.png").stat().st_size > 50_000


HISTORY = """Array.from(document.querySelectorAll('.fig[id^="history-"]')).map(function (el) {
  var traces = el.querySelectorAll('g.scatterlayer g.trace.scatter');
  return el.data.map(function (trace, i) {
    var xs = Array.from(traces[i].querySelectorAll('path.point')).map(function (p) {
      return p.getAttribute('transform').split(',')[0]; });
    return {name: trace.name, xs: xs, text: (trace.text || []).join(' ')};
  });
})"""


def test_the_history_plot_shows_both_nights_and_rings_the_regressions(served: Served, browser: Browser) -> None:
    first, second = served.store.nights
    browser.open(served.url + f"runs/{second}", READY)
    boards = browser.evaluate(HISTORY)
    assert len(boards) == 2  # pi4, rk3588
    for board in boards:
        lines = {t["name"]: t for t in board if not t["name"].startswith("regression")}
        assert len(lines) == 5, lines.keys()
        for name, line in lines.items():
            if name == "tflite-torch-fp32" and board is boards[1]:  # broken on rk3588 the second night
                assert len(line["xs"]) == 1
                continue
            assert len(set(line["xs"])) == 2, (name, line["xs"])  # two points, apart on the time axis
            assert first in line["text"] and second in line["text"]
        rings = next(t for t in board if t["name"].startswith("regression"))
        assert "onnx-torch-fp32" in rings["text"] and "regressed" in rings["text"]
    assert len(next(t for t in boards[1] if t["name"].startswith("regression"))["xs"]) == 2  # + the broken cell
    browser.open(served.url + f"cells/{_cell_id(served, 'pi4', 'onnx-torch-fp32')}", READY)
    (cell,) = browser.evaluate(HISTORY.replace('[id^="history-"]', '[id="history"]'))
    assert len(set(cell[0]["xs"])) == 2 and len(cell[1]["xs"]) == 1  # both nights; the second one ringed


def test_the_run_page_has_the_framework_verdict(served: Served, browser: Browser) -> None:
    browser.open(served.url + f"runs/{served.store.nights[-1]}", READY)
    text = browser.evaluate("document.body.innerText")
    section = text.split("Framework verdict", 1)[1].split("\nBoards\n", 1)[0]
    assert "On pi4, digits_cnn" in section and "On rk3588, digits_cnn" in section, section[:800]
    assert "Keras is" in section and "faster than PyTorch" in section  # a verdict with its figures
    assert "pending" not in section
    assert browser.evaluate("document.querySelectorAll('[id^=\"framework-\"] g.trace.scatter').length") >= 2


def test_report_html_dir_writes_the_same_pages_for_a_deploy(served: Served, browser: Browser, tmp_path: Path) -> None:
    out = tmp_path / "deploy-pages"
    proc = run("report", served.store.deploy, "--html", str(out), "--db", served.store.url, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stderr and proc.stdout == ""  # the pages only: no verdict table printed
    pages = sorted(p.name for p in out.glob("*.html"))
    assert pages[-1] == "index.html" and len(pages) == 1 + 5  # the run, its five cells; no baseline to compare
    assert sorted(p.name for p in (out / "assets").iterdir()) == ["dashboard.css", "dashboard.js", "favicon.svg",
                                                                  "plotly.min.js"]
    for page in out.glob("*.html"):
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page.read_text(), re.I), page  # all local
    for name in ("index.html", pages[0]):
        opened = browser.open((out / name).as_uri(), READY)
        assert not opened.problems, (name, opened.problems)
    browser.open((out / "index.html").as_uri(), READY)
    text = browser.evaluate("document.body.innerText")
    assert "deploy of digits_cnn on pi4" in text and "On pi4, digits_cnn" in text  # the framework verdict too
    assert browser.evaluate("document.querySelectorAll('.fig .main-svg').length") >= 4


def test_the_token_is_asked_for(served: Served) -> None:
    bare = requests.get(served.url, timeout=30)
    assert bare.status_code == 401 and "?token=TOKEN" in bare.text and len(bare.text.splitlines()) == 1
    assert requests.get(served.url + "assets/plotly.min.js", timeout=30).status_code == 401
    wrong = requests.get(served.url, headers={"Authorization": "Bearer nope"}, timeout=30)
    assert wrong.status_code == 401
    ok = requests.get(served.url, headers={"Authorization": f"Bearer {served.token}"}, timeout=30)
    assert ok.status_code == 200 and "Boards" in ok.text
    once = requests.get(f"{served.url}runs/{served.store.deploy}?token={served.token}", allow_redirects=False,
                        timeout=30)
    assert once.status_code == 303 and once.headers["Location"].endswith(f"/runs/{served.store.deploy}")
    cookie = once.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and served.token not in cookie
    again = requests.get(served.url + f"runs/{served.store.deploy}", cookies=once.cookies, timeout=30)
    assert again.status_code == 200


def test_it_is_read_only(served: Served) -> None:
    """Last: after every page was opened, the store file is what it was, and nothing new lies beside it."""
    auth = {"Authorization": f"Bearer {served.token}"}
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in ("", f"runs/{served.store.deploy}", "compare"):
            answer = requests.request(method, served.url + path, headers=auth, data={"x": "1"}, timeout=30)
            assert answer.status_code == 405, (method, path, answer.status_code)
    assert _sha(served.store.path) == served.sha256
    assert sorted(p.name for p in served.store.path.parent.iterdir() if p.suffix != ".log") == served.files
