"""``adb``: an Android phone over adb (adbutils), measured with the user's native benchmark tools.

The profile's ``adb:`` section names the device serial, a working folder on the phone and the
host paths of the tool binaries (LiteRT ``benchmark_model``, ExecuTorch ``executor_runner``,
``onnxruntime_perf_test``) built for the phone's ABI; they are pushed once, by content.
For the normal agent on a phone, use Termux + sshd and the ``ssh`` transport instead.
"""

from __future__ import annotations

import hashlib
import posixpath
from pathlib import Path
from typing import Any, Literal

from ..android.board import AdbBoard
from ..android.tools import TOOLS
from ..errors import ConfigError, TransportError
from .base import BoardProfile, Transport, TransportSettings
from .registry import register


class AdbSettings(TransportSettings):
    """The profile's ``adb:`` section: an Android phone over adb, measured with the native benchmark
    tools you built for its ABI."""

    serial: str | None = None  # `adb devices` serial; default: the only device attached
    remote_dir: str = "/data/local/tmp/testbed"  # working folder on the phone (artifacts, tools)
    # host paths of the tools: benchmark_model (LiteRT), executor_runner (ExecuTorch),
    # onnxruntime_perf_test (ONNX Runtime); a runtime without its tool is reported unavailable
    tools: dict[Literal["benchmark_model", "executor_runner", "onnxruntime_perf_test"], str] = {}

    def where(self) -> str:
        return f"adb {self.serial}" if self.serial else "adb"


@register
class AdbTransport(Transport):
    """No capability beyond the contract (``capabilities.py``): the phone runs no agent, and
    ``open()`` returns an ``AdbBoard`` that answers a deploy's calls itself."""

    name = "adb"
    about = "Android phones over adb, measured by native tools"
    Settings = AdbSettings

    def __init__(self, profile: BoardProfile, device: Any = None) -> None:
        super().__init__(profile)
        self._device = device  # tests pass a stand-in phone; normally found through the adb server
        self._board: AdbBoard | None = None

    def open(self) -> AdbBoard:
        settings = self.settings(AdbSettings)
        device = self._device or _connect(settings.serial)
        remote_dir = settings.remote_dir
        device.shell(f"mkdir -p {remote_dir}")
        binaries = {}
        paths: dict[str, str] = {str(key): value for key, value in settings.tools.items()}
        for runtime, tool in TOOLS.items():
            local = paths.get(tool.name)
            if local:
                binaries[runtime] = self._push_tool(device, Path(local).expanduser(), remote_dir, tool.name)
        self._board = AdbBoard(device, remote_dir, binaries, where=f"{self.profile.id} (adb)")
        return self._board

    def close(self) -> None:
        self._board = None

    @staticmethod
    def _push_tool(device: Any, local: Path, remote_dir: str, name: str) -> str:
        if not local.is_file():
            raise ConfigError(f"adb.tools.{name}: {local} does not exist (build it for the phone's ABI)")
        digest = hashlib.sha256(local.read_bytes()).hexdigest()[:16]
        remote = posixpath.join(remote_dir, f"{name}-{digest}")
        if device.shell(f"test -x {remote} && echo yes").strip() != "yes":
            device.push(str(local), remote)
            device.shell(f"chmod 755 {remote}")
        return remote


def _connect(serial: str | None) -> Any:
    """The adbutils ``AdbDevice`` (adbutils has no type information)."""
    try:
        from adbutils import adb
    except ImportError as exc:
        raise TransportError("the adb transport needs adbutils: pip install adbutils") from exc
    try:
        return adb.device(serial=serial)
    except Exception as exc:  # no adb server, no device, several devices and no serial
        raise TransportError(f"no Android device{' ' + serial if serial else ''} over adb: {exc}; "
                             "check `adb devices`") from exc
