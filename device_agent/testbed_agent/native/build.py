"""Compile ``et_runner.cpp`` on the board against the installed executorch wheel, once.

The wheel ships the C++ runtime as plain shared libraries (``executorch/lib/libexecutorch*.so``)
and its headers (``executorch/include``); its CMake package needs CMake >= 3.28 for the imported
targets, so we call g++ directly with what that package documents for older consumers: the two
include directories, ``C10_USING_CUSTOM_GENERATED_MACROS`` and ``ET_EVENT_TRACER_ENABLED`` (the
libraries are built with it), ``ET_USE_THREADPOOL``, C++17, and every registration-only library
(kernels, XNNPACK, threadpool, etdump) linked with ``--no-as-needed`` so its static registrations
run. The binary finds the libraries through an rpath to the wheel's ``lib/``.

Nothing here imports executorch (it needs torch): the wheel is located with
``importlib.util.find_spec``. The binary is cached under ``<cache>/et_runner-<version>-<key>/``,
where ``key`` hashes the source, the compile command and the wheel's location, so an upgraded
wheel or an edited runner is rebuilt and an unchanged one never is.

    python -m testbed_agent.native.build [--cache DIR]    # build (or find) it, print its path
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).with_name("et_runner.cpp")
BINARY = "et_runner"
CACHE_ENV = "TESTBED_AGENT_NATIVE_CACHE"
CXX_ENV = "CXX"
COMPILE_TIMEOUT_S = 600

#: Headers the runner includes (relative to the wheel's include/).
HEADERS = ("executorch/extension/module/module.h", "executorch/extension/tensor/tensor.h",
           "executorch/devtools/etdump/etdump_flatcc.h")
C10_INCLUDE = "executorch/runtime/core/portable_type/c10"
#: The runtime itself (required), then registration-only libraries linked when shipped.
RUNTIME_LIB = "libexecutorch.so"
REQUIRED_LIBS = (RUNTIME_LIB, "libexecutorch_kernels_optimized.so", "libexecutorch_etdump.so")
#: The quantized kernels are safe here: the CMake package keeps them out of its aggregate only
#: because they collide with the Python export plugin, which a standalone binary never loads.
OPTIONAL_LIBS = ("libexecutorch_backend_xnnpack.so", "libexecutorch_kernels_quantized.so",
                 "libexecutorch_threadpool.so")
DEFINES = ("C10_USING_CUSTOM_GENERATED_MACROS", "ET_EVENT_TRACER_ENABLED")


class BuildError(Exception):
    """The runner cannot be built here; ``str()`` is the reason, one line."""


@dataclass(frozen=True)
class Wheel:
    """An installed executorch wheel: where it is and what it ships for C++ consumers."""

    root: Path
    version: str | None
    include: Path
    lib: Path
    libs: tuple[str, ...] = field(default=())  # shipped libraries we link, in link order


def find_wheel() -> Wheel:
    """The installed executorch package, with its headers and libraries; BuildError if unusable."""
    try:
        spec = importlib.util.find_spec("executorch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("python package executorch is not installed (pip install --no-deps "
                         "executorch: the native runner needs its lib/ and include/, not torch)")
    root = Path(list(spec.submodule_search_locations)[0])
    try:
        version: str | None = importlib.metadata.version("executorch")
    except importlib.metadata.PackageNotFoundError:
        version = None
    include, lib = root / "include", root / "lib"
    missing = [h for h in HEADERS if not (include / h).is_file()]
    if not (include / C10_INCLUDE).is_dir():
        missing.append(C10_INCLUDE + "/")
    if missing:
        raise BuildError(f"the executorch wheel at {root} ships no C++ headers for the runner "
                         f"(missing under include/: {', '.join(missing)})")
    absent = [name for name in REQUIRED_LIBS if not (lib / name).is_file()]
    if absent:
        raise BuildError(f"the executorch wheel at {root} ships no C++ runtime libraries "
                         f"(missing under lib/: {', '.join(absent)})")
    libs = REQUIRED_LIBS + tuple(name for name in OPTIONAL_LIBS if (lib / name).is_file())
    return Wheel(root=root, version=version, include=include, lib=lib, libs=libs)


def find_compiler() -> str:
    """The C++ compiler (``$CXX`` or g++) as an absolute path; BuildError if there is none."""
    name = os.environ.get(CXX_ENV) or "g++"
    path = shutil.which(name)
    if path is None:
        raise BuildError(f"no C++ compiler: {name} is not on PATH (install g++, e.g. "
                         "apt install g++, or set CXX)")
    return path


def check() -> tuple[Wheel, str]:
    """Cheap availability check (no compiling, no executorch import): (wheel, compiler)."""
    return find_wheel(), find_compiler()


def compile_command(cxx: str, wheel: Wheel, source: Path, out: Path) -> list[str]:
    """The g++ command line building ``source`` into ``out`` against ``wheel``."""
    defines = list(DEFINES)
    if "libexecutorch_threadpool.so" in wheel.libs:
        defines.append("ET_USE_THREADPOOL")
    libs = [f"-l:{name}" for name in wheel.libs if name != RUNTIME_LIB]
    return [cxx, "-std=c++17", "-O2", "-Wno-deprecated-declarations",
            *[f"-D{d}" for d in defines],
            f"-I{wheel.include}", f"-I{wheel.include / C10_INCLUDE}",
            str(source), "-o", str(out),
            f"-L{wheel.lib}", f"-Wl,-rpath,{wheel.lib}", f"-l:{RUNTIME_LIB}",
            "-Wl,--push-state,--no-as-needed", *libs, "-Wl,--pop-state", "-lpthread"]


def build_key(cxx: str, wheel: Wheel, source: Path) -> str:
    """Hash of what the binary depends on: the source, the command, the wheel's version and place."""
    digest = hashlib.sha256(source.read_bytes())
    probe = compile_command(cxx, wheel, Path("SRC"), Path("OUT"))
    digest.update(json.dumps([probe, wheel.version, str(wheel.root)]).encode())
    return digest.hexdigest()[:16]


def default_cache() -> Path:
    """``$TESTBED_AGENT_NATIVE_CACHE``, else ``~/.testbed-agent/native``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".testbed-agent" / "native"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock file, so two workers never compile into the same folder at once."""
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(cache: Path | None = None, source: Path = SOURCE, name: str = BINARY) -> Path:
    """The compiled runner, built now if this (wheel, source) pair has none yet; BuildError
    with the compiler's first error line when it fails."""
    wheel, cxx = check()
    key = build_key(cxx, wheel, source)
    folder = (cache or default_cache()) / f"{name}-{wheel.version or 'unknown'}-{key}"
    binary = folder / name
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        if binary.is_file():  # another worker built it while we waited
            return binary
        tmp = folder / f".{name}.tmp{os.getpid()}"
        cmd = compile_command(cxx, wheel, source, tmp)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"compiling {source.name} took more than {COMPILE_TIMEOUT_S} s") from exc
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise BuildError(f"compiling {source.name} against executorch {wheel.version} failed: "
                             f"{_first_error(proc.stderr)}")
        (folder / "build.json").write_text(json.dumps(
            {"command": cmd, "wheel": str(wheel.root), "version": wheel.version}, indent=1))
        os.replace(tmp, binary)
    return binary


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return line[:400]
    return (lines[-1] if lines else "(no compiler output)")[:400]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="build cache (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        print(build(args.cache))
    except BuildError as exc:
        print(f"cannot build the native runner: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
