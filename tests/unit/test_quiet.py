"""Tool chatter goes to the tools log: what this process and the processes it starts write on
stdout and stderr while a command converts and measures, whatever writes it (C, Python, a child).
Run in a process of its own, with real file descriptors, as the CLI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.quiet import tool_output_to

SCRIPT = """
import os, subprocess, sys
from pathlib import Path
from testbed.quiet import tool_output_to

print("before", flush=False)  # ours, still buffered when the block starts: stays on stdout
with tool_output_to(Path(sys.argv[1])) as ui:
    os.write(1, b"W0000 a C library on fd 1\\n")
    os.write(2, b"E0000 a C library on fd 2\\n")
    print("a Python print on stdout")  # buffered (a pipe): flushed into the log, not after the block
    print("a Python warning on stderr", file=sys.stderr)
    subprocess.run([sys.executable, "-c", "import sys; print('child out'); print('child err', file=sys.stderr)"],
                   check=True)
    ui.write("converting 3 variant(s)\\n")  # ours: on the terminal
print("the table")
"""


def test_stdout_and_stderr_of_tools_go_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "tools.log"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(log)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "before\nthe table\n"
    assert proc.stderr == "converting 3 variant(s)\n"
    logged = log.read_text()
    for line in ("W0000 a C library on fd 1", "E0000 a C library on fd 2", "a Python print on stdout",
                 "a Python warning on stderr", "child out", "child err"):
        assert line in logged


def test_the_terminal_is_back_after_an_error(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError), tool_output_to(tmp_path / "tools.log"):
        raise RuntimeError("a conversion failed")
    os.write(1, b"out\n")
    os.write(2, b"err\n")
    assert capfd.readouterr() == ("out\n", "err\n")
