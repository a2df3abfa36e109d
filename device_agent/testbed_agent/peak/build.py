"""Compile ``peak_bench.c`` on the board with the board's compiler, once per (source, compiler, flags).

The compiler is the native runner's (``native.build.find_compiler``: ``$CXX`` or g++), driven as a C
compiler (``-x c``); flags ``-O3 -march=native`` (``-mcpu=native`` on arm, where GCC spells the host
CPU that way), so the benchmark uses every vector and dot-product instruction this CPU has. The
binary is cached under ``<cache>/peak_bench-<key>/`` (``key``: the source, the command, the
compiler's version) and built under the native runner's lock helper, so two workers never compile
into one folder at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..native.build import BuildError, _first_error, _locked, find_compiler

SOURCE = Path(__file__).with_name("peak_bench.c")
BINARY = "peak_bench"
COMPILE_TIMEOUT_S = 120


@dataclass(frozen=True)
class Compiler:
    """The compiler that builds the benchmark: its path, version line and the flags used."""

    path: str
    version: str
    flags: tuple[str, ...]

    def describe(self) -> str:
        """``g++ 12.2.0 -O3 -march=native``: what the record's ``method`` names."""
        return f"{Path(self.path).name} {self.version} {' '.join(self.flags)}"


def arch_flags(machine: str | None = None) -> tuple[str, ...]:
    """``-O3`` and the host-CPU flag: ``-mcpu=native`` on arm, ``-march=native`` elsewhere."""
    machine = (machine or platform.machine()).lower()
    native = "-mcpu=native" if machine.startswith(("aarch64", "arm")) else "-march=native"
    return ("-O3", native)


def find(cache: Path | None = None) -> Compiler:
    """The board's compiler and its version; BuildError if there is none. The version (one
    ``-dumpfullversion`` call) is kept under ``cache`` per compiler file (path, size, mtime), so a
    cached peak costs no compiler start."""
    cxx = find_compiler()
    stat = os.stat(cxx)
    stamp = hashlib.sha256(f"{cxx}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    known = cache / f"compiler-{stamp}.txt" if cache is not None else None
    try:
        if known is not None and known.is_file():
            return Compiler(path=cxx, version=known.read_text().strip() or "unknown", flags=arch_flags())
    except OSError:
        pass
    try:
        proc = subprocess.run([cxx, "-dumpfullversion", "-dumpversion"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"cannot run the compiler {cxx}: {exc}") from exc
    lines = proc.stdout.strip().splitlines() if proc.returncode == 0 else []
    version = lines[0] if lines else "unknown"
    if known is not None:
        try:
            known.write_text(version + "\n")
        except OSError:
            pass
    return Compiler(path=cxx, version=version, flags=arch_flags())


def compile_command(compiler: Compiler, source: Path, out: Path) -> list[str]:
    """The command building ``source`` (C) into ``out``."""
    return [compiler.path, "-x", "c", *compiler.flags, "-pthread", str(source), "-o", str(out)]


def source_hash(source: Path = SOURCE) -> str:
    """sha256 hex of the benchmark's source (part of every cache key)."""
    return hashlib.sha256(source.read_bytes()).hexdigest()


def build(cache: Path, compiler: Compiler, source: Path = SOURCE) -> Path:
    """The compiled benchmark under ``cache``, built now when this (source, compiler, flags) has none;
    BuildError with the compiler's first error line when it fails."""
    probe = compile_command(compiler, Path("SRC"), Path("OUT"))
    key = hashlib.sha256(json.dumps([source_hash(source), probe, compiler.version]).encode()).hexdigest()[:16]
    folder = cache / f"{BINARY}-{key}"
    binary = folder / BINARY
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        if binary.is_file():  # another worker built it while we waited
            return binary
        tmp = folder / f".{BINARY}.tmp{os.getpid()}"
        cmd = compile_command(compiler, source, tmp)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"compiling {source.name} took more than {COMPILE_TIMEOUT_S} s") from exc
        except OSError as exc:
            raise BuildError(f"cannot run the compiler {compiler.path}: {exc}") from exc
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise BuildError(f"compiling {source.name} with {compiler.describe()} failed: "
                             f"{_first_error(proc.stderr)}")
        os.replace(tmp, binary)
    return binary
