"""One headless Chromium for a test module, driven through the DevTools protocol (CDP) over a small
stdlib WebSocket client: pages are opened one after another in the same browser (a launch costs
seconds), and what went wrong in a page is collected from the browser's own events - console calls of
any level, uncaught exceptions, the browser's log (CSP violations, blocked or failed loads), failed
requests and HTTP errors - rather than scraped from its log output.

    with Browser(tmp_path) as browser:
        page = browser.open("http://127.0.0.1:8765/", ready="document.body.dataset.figuresDrawn")
        assert not page.problems, page.problems
        browser.evaluate("document.title")
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("chromium not found: run `make test` (scripts/install-system-deps.sh installs Debian's "
                       "chromium) or `apt-get install chromium`")


class WebSocket:
    """A client WebSocket (RFC 6455): text frames out (masked), text frames in; answers pings."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._chunk()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(f"no WebSocket upgrade: {head[:200]!r}")

    def _chunk(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the browser closed the DevTools connection")
        return data

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.buf += self._chunk()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else
                                         bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                                         bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send(self, text: str) -> None:
        self._frame(0x1, text.encode())

    def pending(self) -> bool:
        return bool(self.buf) or bool(select.select([self.sock], [], [], 0)[0])

    def recv(self) -> str:
        message = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(n)
            opcode = b0 & 0x0F
            if opcode == 0x9:
                self._frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("the browser closed the DevTools connection")
            message += payload
            if b0 & 0x80:
                return message.decode()

    def close(self) -> None:
        self.sock.close()


@dataclass
class Page:
    url: str
    problems: list[str] = field(default_factory=list)  # console calls, exceptions, errors in the browser log
    seconds: float = 0.0


class Browser:
    def __init__(self, workdir: Path, width: int = 1400, height: int = 1000) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.profile, self.log = workdir / "profile", workdir / "chromium.log"
        self._log = open(self.log, "w")  # its stderr: a pipe nobody reads would fill and stall it
        (self.profile / "DevToolsActivePort").unlink(missing_ok=True)  # a reused profile's is stale
        self.proc = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={workdir / 'profile'}", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self._log)
        self.ws: WebSocket | None = None
        self.events: list[dict] = []
        self.next_id = 0
        try:
            url = self._devtools_url(timeout=60)
            self.ws = WebSocket(url)
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(f"{domain}.enable", session=True)
            self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                             "deviceScaleFactor": 1, "mobile": False}, session=True)
        except BaseException:
            self.close()
            raise

    def _devtools_url(self, timeout: float) -> str:
        """The browser's DevTools WebSocket, from the DevToolsActivePort file it writes (port, then path)."""
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            lines = port_file.read_text().split("\n") if port_file.exists() else []
            if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].strip():
                return f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
            time.sleep(0.1)
        raise RuntimeError(f"chromium gave no DevTools address in {timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def call(self, method: str, params: dict | None = None, session: bool = False, timeout: float = 60) -> dict:
        assert self.ws is not None
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(f"{method}: no answer in {timeout:.0f} s")

    def drain(self) -> None:
        assert self.ws is not None
        while self.ws.pending():
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def open(self, url: str, ready: str = "true", timeout: float = 60) -> Page:
        """Navigate to ``url``, wait for its load event and then for ``ready`` (a JS expression) to be truthy;
        the page's problems are what the browser reported meanwhile."""
        start = time.monotonic()
        self.drain()
        self.events.clear()
        nav = self.call("Page.navigate", {"url": url}, session=True)
        page = Page(url)
        if nav.get("errorText"):
            page.problems.append(f"navigation failed: {nav['errorText']}")
            return page
        deadline = start + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: no load event in {timeout:.0f} s")
            self.drain()
            time.sleep(0.05)
        while not self.evaluate(f"!!({ready})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: not ready ({ready}) in {timeout:.0f} s")
            time.sleep(0.1)
        time.sleep(0.2)  # let late console messages arrive
        self.drain()
        page.problems = self._problems()
        page.seconds = time.monotonic() - start
        return page

    def _problems(self) -> list[str]:
        out = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                out.append(f"console.{params.get('type')}: {text}")
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                out.append(f"uncaught: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("warning", "error"):
                entry = params["entry"]
                out.append(f"log.{entry['level']}: {entry.get('text')} ({entry.get('url', '')})")
            elif method == "Network.loadingFailed":
                out.append(f"request failed: {params.get('errorText')} {params.get('blockedReason') or ''}")
            elif method == "Network.responseReceived" and params.get("response", {}).get("status", 200) >= 400:
                out.append(f"HTTP {params['response']['status']}: {params['response'].get('url')}")
        return out

    def screenshot(self, path: Path) -> None:
        """The whole page (not only the window) as PNG."""
        metrics = self.call("Page.getLayoutMetrics", session=True)
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
            "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}, session=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
