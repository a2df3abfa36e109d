"""An Android phone over adb, behind the same client interface as the HTTP agent.

``AdbBoard`` answers ``health/info/has_artifact/upload/start_run/wait_run`` like ``AgentClient``,
so `testbed deploy` runs unchanged: artifacts are pushed to ``remote_dir`` by sha256, the user's
native benchmark binaries (pushed once) measure them, and their output is parsed. The tools report
summaries, not raw samples; results say so.
"""

from __future__ import annotations

import posixpath
import uuid
from pathlib import Path
from typing import Any

from ..errors import AgentError, TransportError
from .tools import TOOLS


class AdbBoard:
    def __init__(self, device: Any, remote_dir: str, binaries: dict[str, str], where: str) -> None:
        self.device = device  # an adbutils AdbDevice (or a stand-in with shell/push in tests)
        self.remote_dir = remote_dir
        self.binaries = binaries  # runtime -> path of the tool ON THE PHONE (pushed by the transport)
        self.where = where
        self._runs: dict[str, dict] = {}

    def close(self) -> None:
        pass

    def _shell(self, cmd: str, timeout_s: float = 600) -> str:
        try:
            return str(self.device.shell(cmd, timeout=timeout_s))
        except Exception as exc:  # adbutils raises AdbError/AdbTimeout/OSError
            raise TransportError(f"adb shell on {self.where} failed: {exc}") from exc

    def health(self) -> dict:
        self._shell("true")
        return {"status": "ok", "version": "adb"}

    def info(self) -> dict:
        props = {k: self._shell(f"getprop {k}").strip() for k in ("ro.product.model", "ro.product.cpu.abi",
                                                                  "ro.build.version.release")}
        runtimes = {rt: {"available": rt in self.binaries, "version": None,
                         "reason": None if rt in self.binaries else
                         f"no {tool.name} binary in the profile (adb.tools.{tool.name})"}
                    for rt, tool in TOOLS.items()}
        return {"board": props["ro.product.model"], "machine": props["ro.product.cpu.abi"],
                "os": f"Android {props['ro.build.version.release']}", "runtimes": runtimes, "power": {}}

    def has_artifact(self, sha256: str) -> bool:
        return self._shell(f"test -f {self._path(sha256)} && echo yes").strip() == "yes"

    def upload(self, path: Path, sha256: str) -> int:
        try:
            self.device.push(str(path), self._path(sha256))
        except Exception as exc:
            raise TransportError(f"adb push of {path.name} to {self.where} failed: {exc}") from exc
        return Path(path).stat().st_size

    def start_run(self, request: dict) -> str:
        tool = TOOLS[request["runtime"]]
        cmd = tool.command(self.binaries[request["runtime"]], self._path(request["artifact_sha256"]),
                           request.get("warmup") or 0, request.get("iterations") or 50, request.get("threads"))
        parsed = tool.parse(self._shell(f"{cmd} 2>&1", timeout_s=request.get("timeout_s") or 600))
        run_id = uuid.uuid4().hex[:12]
        if not parsed["ok"]:
            self._runs[run_id] = {"id": run_id, "state": "failed", "error": f"{tool.name}: {parsed['error']}"}
        else:
            self._runs[run_id] = {"id": run_id, "state": "done", "error": None, "result": {
                "runner": f"native tool ({tool.name})", "runtime_version": None, "threads": request.get("threads"),
                "settings": {"command": cmd}, "warmup": request.get("warmup"),
                "iterations": request.get("iterations"), "load_ms": parsed.get("load_ms"),
                "first_inference_ms": parsed.get("first_inference_ms"), "samples_ns": [],
                "tool_summary": parsed}}
        return run_id

    def get_run(self, run_id: str) -> dict:
        try:
            return self._runs[run_id]
        except KeyError:
            raise AgentError(f"unknown run {run_id} on {self.where}") from None

    def wait_run(self, run_id: str, timeout_s: float, poll_s: float = 0.1) -> dict:
        return self.get_run(run_id)

    def _path(self, sha256: str) -> str:
        return posixpath.join(self.remote_dir, sha256)
