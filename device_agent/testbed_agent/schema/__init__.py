"""The host-agent wire schema: the one definition of what crosses between them, imported by both.

    RunRequest      ``POST /v1/runs``: what to measure and how (the host builds it, the agent parses it)
    WorkerRequest   what the agent hands one worker process on its stdin
    RunResult       what a worker answers and ``GET /v1/runs/<id>`` returns as ``result``: the same
                    typed shape from every runtime (the Python runtimes and the native runner)
    AgentInfo       ``GET /v1/info``
    TensorSpec      one named tensor (name, shape, dtype): inputs and outputs are lists of them

Modules: ``versions`` (versions, errors, field checks), ``tensors``, ``requests``, ``results``; every
name is imported from here. Stdlib dataclasses with explicit checks: the agent installs on boards
without pydantic. Every document carries ``schema`` (``SCHEMA_VERSION``). Parsing is strict: an unknown field is one
``SchemaError`` line naming it (the agent answers 400), a missing one too. Value ranges (threads >= 1,
a runtime this board has...) are the agent's ``validation``; the shape is here.

Schema history:
  1  the untyped v1 dicts (no ``schema`` field); an agent still answers a request without one.
  2  ``schema`` in every request and response; ``RunResult`` typed, with ``run_id`` (the agent's run
     id), ``input_tensors``/``output_tensors`` (lists of TensorSpec); ``AgentInfo.schema`` and
     ``min_host_schema``; ``RunRequest.inputs`` (optional, the host's description of the inputs).
  3  ``RunResult.eval_outputs_npy_b64``: every output of the evaluation samples (one .npy per output,
     each ``[N, K]`` float32), for parity on every output; the inputs ``.npz`` may hold named inputs
     (``timing/<name>``, ``eval/<name>``). An agent answers a host of schema 2 in schema 2 (without
     the new field, ``RunResult.to_wire(for_schema)``); a host reads results of schema 2 and 3.

Versions: an agent answers hosts of schema ``MIN_HOST_SCHEMA``..``SCHEMA_VERSION``; a host needs an
agent of at least ``MIN_AGENT_SCHEMA`` (a v1 agent refuses the ``schema`` field). Either side names
the side to upgrade in one line (``version_error``).
"""

from __future__ import annotations

from .requests import RUN_FIELDS, WORKER_FIELDS, RunRequest, WorkerRequest
from .results import AgentInfo, RunResult
from .tensors import TensorSpec, tensors_from_wire, tensors_to_wire
from .versions import (
                       DEBUG_FIELDS,
                       MIN_AGENT_SCHEMA,
                       MIN_HOST_SCHEMA,
                       SCHEMA_VERSION,
                       SchemaError,
                       SchemaVersionError,
                       check_agent_schema,
                       check_host_schema,
                       version_error,
)

__all__ = ["DEBUG_FIELDS", "MIN_AGENT_SCHEMA", "MIN_HOST_SCHEMA", "RUN_FIELDS", "SCHEMA_VERSION", "WORKER_FIELDS",
           "AgentInfo", "RunRequest", "RunResult", "SchemaError", "SchemaVersionError", "TensorSpec", "WorkerRequest",
           "check_agent_schema", "check_host_schema", "tensors_from_wire", "tensors_to_wire", "version_error"]
