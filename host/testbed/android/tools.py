"""Command lines of the native benchmark tools, one per agent runtime name.

Each tool runs the artifact on the phone with its own random inputs; the output is parsed by
``parsers.py``. The tools measure their own way (see README "What is tested how").
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from .parsers import PARSERS


@dataclass(frozen=True)
class Tool:
    name: str  # binary name, also the parser key
    runtime: str  # the agent runtime name it stands in for

    def command(self, binary: str, artifact: str, warmup: int, iterations: int, threads: int | None) -> str:
        q = shlex.quote
        if self.name == "benchmark_model":
            args = [f"--graph={q(artifact)}", f"--warmup_runs={warmup}", f"--num_runs={iterations}",
                    "--min_secs=0", f"--num_threads={threads or -1}"]
        elif self.name == "executor_runner":
            args = [f"--model_path={q(artifact)}", f"--num_executions={iterations}"]
            if threads:
                args.append(f"--cpu_threads={threads}")
        else:  # onnxruntime_perf_test: -r repetitions, -s statistics, -x intra-op threads
            args = ["-m", "times", "-r", str(iterations), "-s", "-I"]
            if threads:
                args += ["-x", str(threads)]
            args.append(q(artifact))
        return " ".join([q(binary), *args])

    def parse(self, text: str) -> dict:
        return PARSERS[self.name](text)


TOOLS = {t.runtime: t for t in (Tool("benchmark_model", "litert"), Tool("executor_runner", "executorch"),
                                Tool("onnxruntime_perf_test", "onnxruntime"))}
