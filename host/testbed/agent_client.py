"""HTTP client for the device agent's API v1 (see docs/agent-api.md).

The boundary where ``requests`` and HTTP statuses become testbed errors, each saying whether a retry
can help (see ``testbed.errors``): no answer or a 5xx is the board's fault (``AgentServerError``,
retried); a 4xx is the request's (``AgentRequestError``: a failed cell with the agent's reason), except
404/409 on a request that was right when sent: the board changed under it (``AgentStateError``).

Requests and results go through the agent's wire schema (``testbed_agent.schema``), the one
definition both sides import: a run request is a ``RunRequest`` (checked here before it is sent), a
run's result a ``RunResult``, ``/v1/info`` an ``AgentInfo`` whose ``schema`` this host checks first: an
agent too old or too new is one ``AgentVersionError`` line naming the side to upgrade.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

from testbed_agent import schema

from .errors import (
    AgentAuthError,
    AgentError,
    AgentRequestError,
    AgentServerError,
    AgentStateError,
    AgentVersionError,
    MeasurementError,
    TestbedError,
)


class AgentClient:
    """Talks to one agent at ``base_url`` (for SSH boards, the local end of the tunnel)."""

    def __init__(self, base_url: str, token: str, *, where: str, timeout_s: float = 30.0,
                 device: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.where = where  # human name of the board, for error messages
        self.device = device or where.split(" (")[0]  # the profile id, for `--device` in hints
        self._timeout = timeout_s
        self._http = requests.Session()
        self._http.headers["Authorization"] = f"Bearer {token}"
        self.bytes_sent = 0
        self.lease_id: str | None = None  # sent with every run while set (see docs/agent-api.md, leases)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        try:
            resp = self._http.request(method, self.base_url + path, **kwargs)
        except requests.RequestException as exc:
            raise AgentServerError(f"agent on {self.where} did not answer {method} {path}: "
                                   f"{type(exc).__name__}; check it runs (`testbed doctor`)") from exc
        if resp.status_code in ok:
            return resp
        try:
            resp.raise_for_status()
        except requests.HTTPError as exc:  # 4xx/5xx: mapped to the most specific class, the cause kept
            raise status_error(resp.status_code, f"agent on {self.where}", f"{method} {path}",
                               _error_text(resp)) from exc
        raise AgentServerError(f"agent on {self.where}: {method} {path} -> unexpected HTTP {resp.status_code}",
                               status=resp.status_code)

    def health(self) -> dict:
        return self._call("GET", "/v1/health").json()

    def info(self) -> dict:
        """``/v1/info``, once its schema version says this host can talk to the agent."""
        body = self._call("GET", "/v1/info").json()
        try:
            schema.AgentInfo.from_wire(body, self.device)
        except schema.SchemaVersionError as exc:
            raise AgentVersionError(f"agent on {self.where}: {exc}") from exc
        except schema.SchemaError as exc:
            raise AgentRequestError(f"agent on {self.where}: /v1/info: {exc}") from exc
        return body

    def has_artifact(self, sha256: str) -> bool:
        resp = self._call("GET", f"/v1/artifacts/{sha256}", ok=(200, 404))
        return resp.status_code == 200

    def upload(self, path: Path, sha256: str) -> int:
        data = Path(path).read_bytes()
        self._call("PUT", f"/v1/artifacts/{sha256}", ok=(200, 201), data=data,
                   headers={"Content-Type": "application/octet-stream"}, timeout=max(self._timeout, 300))
        self.bytes_sent += len(data)
        return len(data)

    def start_run(self, request: dict | schema.RunRequest) -> str:
        """Queue a run; the request goes out as the wire schema's ``RunRequest`` (with ``schema``)."""
        try:
            typed = (request if isinstance(request, schema.RunRequest)
                     else schema.RunRequest.from_wire({"schema": schema.SCHEMA_VERSION, **request}))
        except schema.SchemaError as exc:  # built wrong on this side: a bug or a bad setting, not the board
            raise AgentRequestError(f"run request for {self.where}: {exc}") from exc
        if self.lease_id:
            typed.lease_id = self.lease_id
        return self._call("POST", "/v1/runs", ok=(200, 201, 202), json=typed.to_wire()).json()["id"]

    def acquire_lease(self, holder: str, ttl_s: float) -> tuple[bool, dict]:
        """Take the board's lease: ``(True, {lease_id, expires_at...})``, or ``(False, {holder,
        expires_at...})`` when another host holds it (HTTP 409)."""
        resp = self._call("POST", "/v1/lease", ok=(200, 409), json={"holder": holder, "ttl_s": ttl_s,
                                                                     "schema": schema.SCHEMA_VERSION})
        return resp.status_code == 200, resp.json()

    def renew_lease(self, lease_id: str, ttl_s: float) -> bool:
        """Extend the lease; False when it is gone (expired, or the agent restarted)."""
        resp = self._call("PUT", f"/v1/lease/{lease_id}", ok=(200, 404), json={"ttl_s": ttl_s,
                                                                                     "schema": schema.SCHEMA_VERSION})
        return resp.status_code == 200

    def release_lease(self, lease_id: str) -> None:
        self._call("DELETE", f"/v1/lease/{lease_id}")

    def get_run(self, run_id: str) -> dict:
        return self._call("GET", f"/v1/runs/{run_id}").json()

    def prestart(self, runtimes: list[str]) -> dict:
        """Ask the agent to start these runtimes' fork servers now (they import while the host
        prepares; the agent runs no measurement while one imports): ``{runtime: {"state": ...}}``."""
        return self._call("POST", "/v1/workers/prestart", ok=(200, 202), json={"runtimes": runtimes}).json()["workers"]

    def wait_run(self, run_id: str, timeout_s: float, poll_s: float = 0.02) -> dict:
        """Poll until the run is done or failed; the agent enforces the run's own timeout. The
        interval starts short and grows by a quarter up to 1 s: a quick run's end is seen within
        ~25 % of its time instead of up to a fixed step later."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.get_run(run_id)
            if run["state"] in ("done", "failed"):
                if run.get("result") is not None:
                    try:  # read through the schema: every runtime's result has one typed shape
                        schema.RunResult.from_wire(run["result"])
                    except schema.SchemaError as exc:
                        raise MeasurementError(f"run {run_id} on {self.where}: {exc}") from exc
                return run
            if time.monotonic() > deadline:
                raise MeasurementError(f"run {run_id} on {self.where} still '{run['state']}' after "
                                       f"{timeout_s:.0f} s; the agent may be stuck (`testbed doctor`)")
            time.sleep(poll_s)
            poll_s = min(poll_s * 1.25, 1.0)


def prestart_workers(client: Any, info: dict, runtimes: list[str]) -> None:
    """Best effort, right after connecting: have the agent start the fork servers of ``runtimes``
    now, so their imports overlap with the host's own preparation (conversions, reference outputs)
    instead of following it on each runtime's first run. Skipped for an agent (or an adb board)
    without the ``workers.prestart`` feature; a refusal changes nothing but the start-up time."""
    wanted = list(dict.fromkeys(runtimes))
    if not wanted or "workers.prestart" not in (info.get("features") or ()) or not hasattr(client, "prestart"):
        return
    try:
        client.prestart(wanted)
    except TestbedError:
        pass


def status_error(status: int, who: str, what: str, reason: str) -> AgentError:
    """The error for an agent's HTTP error ``status`` (>= 400), by whose fault it is."""
    if status == 401:
        return AgentAuthError(f"{who} rejected the token (HTTP 401); the host must use the token the agent "
                              "was started with (its token file on the board)", status=status)
    message = f"{who}: {what} -> HTTP {status}: {reason}"
    if status in (404, 409):
        return AgentStateError(message, status=status)
    if status == 426:  # the agent's one line says which side to upgrade
        return AgentVersionError(f"{who}: {reason}", status=status)
    if 400 <= status < 500:
        return AgentRequestError(message, status=status)
    return AgentServerError(message, status=status)


def _error_text(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text))[:300]
    except ValueError:
        return resp.text[:300]
