"""An offline board's wheels: ``pip download`` on the host for the *board's* tags, SFTP to the board.

The board reports its compatible wheel tags (``packaging.tags.sys_tags()``, from its own pip); the
host downloads the wheels for those tags (first from the wheelhouse alone, so a filled wheelhouse
needs no network), and sends the board only the wheels it can install that it does not hold yet.
"""

from __future__ import annotations

import json
import posixpath
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import TransportError

if TYPE_CHECKING:
    from ..transports.capabilities import InstallsAgent

# Run on the board with the venv's python: its interpreter, ABI and platform tags, most specific first.
TAGS_SCRIPT = r"""
import json, sys
try:
    from pip._vendor.packaging import tags
except Exception:
    from packaging import tags
all_tags = list(tags.sys_tags())
def uniq(xs):
    seen = []
    for x in xs:
        if x not in seen:
            seen.append(x)
    return seen
print(json.dumps({
    "python_version": "%d.%d" % sys.version_info[:2],
    "implementation": tags.interpreter_name(),
    "abis": uniq(t.abi for t in all_tags),
    "platforms": uniq(t.platform for t in all_tags),
    "tags": [str(t) for t in all_tags],
}))
"""


@dataclass
class BoardTags:
    python_version: str  # "3.11"
    implementation: str  # "cp"
    abis: list[str]
    platforms: list[str]
    tags: set[str]  # "cp311-cp311-manylinux_2_17_aarch64", ...

    @classmethod
    def from_json(cls, text: str) -> BoardTags:
        data = json.loads(text)
        return cls(python_version=data["python_version"], implementation=data["implementation"],
                   abis=data["abis"], platforms=data["platforms"], tags=set(data["tags"]))

    def accepts(self, wheel_name: str) -> bool:
        """Whether a wheel file name is installable on the board (any of its expanded tags matches)."""
        parts = wheel_name[:-len(".whl")].split("-")
        if len(parts) < 5:
            return False
        py, abi, plat = parts[-3:]
        return any(f"{p}-{a}-{pl}" in self.tags
                   for p in py.split(".") for a in abi.split(".") for pl in plat.split("."))


def download(wheelhouse: Path, requirements: list[str], board: BoardTags, device: str) -> None:
    """Fill ``wheelhouse`` with every wheel ``requirements`` need on the board (binary only)."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    target = ["--only-binary=:all:", "--python-version", board.python_version,
              "--implementation", board.implementation]
    for abi in board.abis:
        target += ["--abi", abi]
    for plat in board.platforms:
        target += ["--platform", plat]
    base = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--progress-bar", "off",
            "-q", "--dest", str(wheelhouse), *target]
    offline = subprocess.run([*base, "--no-index", "--find-links", str(wheelhouse), *requirements],
                             capture_output=True, text=True, timeout=900)
    if offline.returncode == 0:
        return
    online = subprocess.run([*base, *requirements], capture_output=True, text=True, timeout=1800)
    if online.returncode != 0:
        lines = [ln for ln in online.stderr.splitlines() if ln.strip() and not ln.startswith("WARNING")]
        raise TransportError(
            f"pip download of the agent's wheels for {device} (Python {board.python_version}, "
            f"{board.platforms[0] if board.platforms else '?'}) failed: {lines[-1] if lines else 'no output'}; "
            f"fill {wheelhouse} by hand (pip download --platform ... --only-binary=:all:) or install online")


def push(transport: InstallsAgent, wheelhouse: Path, remote_dir: str, board: BoardTags) -> tuple[int, int]:
    """SFTP the wheels the board accepts and lacks (by name and size): (files sent, bytes sent)."""
    code, out = transport.exec(f"mkdir -p {shlex.quote(remote_dir)}")
    if code != 0:
        raise TransportError(f"cannot create {remote_dir} on {transport.profile.id}: {out.strip()}")
    remote = transport.file_sizes(remote_dir)
    sent = nbytes = 0
    for wheel in sorted(wheelhouse.glob("*.whl")):
        if not board.accepts(wheel.name):
            continue
        size = wheel.stat().st_size
        if remote.get(wheel.name) == size:
            continue
        transport.put(wheel, posixpath.join(remote_dir, wheel.name))
        sent += 1
        nbytes += size
    return sent, nbytes
