"""The agent's wheel: only ``testbed_agent`` (no host code, no zoo), built from the host's own copy.

The wheel keeps the project's distribution name and version (``testbed-<v>-py3-none-any.whl``) so
the board installs it the documented way, ``pip install 'testbed-<v>-py3-none-any.whl[litert,onnxruntime]'``.
Its requirements are the project's base dependencies (the agent's) and the runtime extras; the host
extras (torch, TensorFlow, converters) are not in it. It is written directly (a wheel is a zip with
a ``.dist-info``) and byte-for-byte reproducible, so its sha256 tells whether a board runs this code.

Which files: every file of the ``testbed_agent`` package and of its sub-packages (folders with an
``__init__.py``), except caches and compiled objects (``__pycache__``, ``*.pyc``, ``*.so``, ``*.o``).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..paths import cache_dir, repo_root

DIST = "testbed"
AGENT_EXTRAS = ("litert", "onnxruntime", "executorch")  # the runtimes a board may install
SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".o", ".a", ".dylib", ".dll")
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class AgentWheel:
    path: Path
    version: str
    sha256: str
    requires: list[str]  # base requirements (always installed)
    extras: dict[str, list[str]]  # extra -> its requirements

    @property
    def filename(self) -> str:
        return self.path.name

    def requirements_for(self, runtimes: Sequence[str]) -> list[str]:
        """The requirement strings the board needs for these runtimes (for ``pip download``)."""
        reqs = list(self.requires)
        for name in self.extras_for(runtimes):
            reqs += [r for r in self.extras[name] if not r.startswith(DIST + "[")]
        return reqs

    def extras_for(self, runtimes: Sequence[str]) -> list[str]:
        return [r for r in runtimes if r in self.extras]


def agent_version() -> str:
    import testbed_agent

    return testbed_agent.__version__


def project_requirements() -> tuple[list[str], dict[str, list[str]]]:
    """(base requirements, {extra: requirements}) of the project, from pyproject.toml in a source
    checkout, else from the installed distribution's metadata."""
    pyproject = repo_root() / "pyproject.toml"
    if pyproject.is_file():
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        if project.get("name") == DIST:
            optional = project.get("optional-dependencies", {})
            return list(project.get("dependencies", [])), {k: list(optional.get(k, [])) for k in AGENT_EXTRAS
                                                           if k in optional}
    base: list[str] = []
    extras: dict[str, list[str]] = {}
    for req in importlib.metadata.requires(DIST) or []:
        spec, _, marker = req.partition(";")
        match = re.search(r'extra\s*==\s*["\']([^"\']+)["\']', marker)
        if not match:
            base.append(spec.strip())
        elif match.group(1) in AGENT_EXTRAS:
            extras.setdefault(match.group(1), []).append(spec.strip())
    return base, extras


def agent_files() -> list[tuple[str, Path]]:
    """(archive name, file) for every file the agent needs, sorted."""
    import testbed_agent

    pkg = Path(testbed_agent.__file__).resolve().parent
    files = []
    for path in sorted(pkg.rglob("*")):
        if not path.is_file() or path.suffix in SKIP_SUFFIXES:
            continue
        rel = path.relative_to(pkg.parent)
        if "__pycache__" in rel.parts or any(p.startswith(".") for p in rel.parts):
            continue
        if not _in_packages(path.parent, pkg):
            continue
        files.append((rel.as_posix(), path))
    return files


def _in_packages(folder: Path, pkg: Path) -> bool:
    """True when every folder from ``pkg`` down to ``folder`` is a package (has ``__init__.py``)."""
    current = folder
    while True:
        if not (current / "__init__.py").is_file():
            return False
        if current == pkg:
            return True
        current = current.parent


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _metadata(version: str, base: list[str], extras: dict[str, list[str]]) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {DIST}", f"Version: {version}",
             "Summary: testbed device agent (board-side package, built by `testbed agent install`)",
             "Requires-Python: >=3.10"]
    lines += [f"Requires-Dist: {r}" for r in base]
    for name, reqs in extras.items():
        lines.append(f"Provides-Extra: {name}")
        lines += [f'Requires-Dist: {r}; extra == "{name}"' for r in reqs]
    return "\n".join(lines) + "\n"


def build(dest: Path | None = None) -> AgentWheel:
    """Build (or reuse) the agent wheel in ``dest`` (default: the host's cache)."""
    version = agent_version()
    base, extras = project_requirements()
    dist_info = f"{DIST}-{version}.dist-info"
    entries: list[tuple[str, bytes]] = [(name, path.read_bytes()) for name, path in agent_files()]
    entries += [
        (f"{dist_info}/METADATA", _metadata(version, base, extras).encode()),
        (f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: testbed.fleet.wheel\n"
                               b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
        (f"{dist_info}/entry_points.txt", b"[console_scripts]\ntestbed-agent = testbed_agent.cli:main\n"),
        (f"{dist_info}/top_level.txt", b"testbed_agent\n"),
    ]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries)
    record += f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode()))

    dest = dest or cache_dir("agent-wheel")
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{DIST}-{version}-py3-none-any.whl"
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    tmp.replace(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return AgentWheel(path=path, version=version, sha256=sha, requires=base, extras=extras)
