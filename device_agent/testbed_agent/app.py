"""The HTTP API v1 as a Flask app (served by waitress, see ``server``).

Every route except ``/v1/health`` needs ``Authorization: Bearer <token>``. Errors are JSON
``{"error": "<one line>"}`` with the status of the AgentError subclass (see ``errors``).
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from . import __version__
from .errors import AgentError, AuthError, NotFoundError, RequestError
from .info import agent_info, runtime_probes
from .lease import LeaseBook, parse_lease_request
from .manager import RunManager
from .schema import SCHEMA_VERSION
from .store import ArtifactStore
from .validation import parse_run_request

UNAUTHORIZED = "missing or wrong agent token; pass the token the agent was started with"
PUBLIC_PATHS = ("/v1/health",)


def create_app(*, token: str, store: ArtifactStore, manager: RunManager,
               default_timeout_s: float, allow_debug: bool = False,
               leases: LeaseBook | None = None) -> Flask:
    """The agent's WSGI app."""
    leases = leases if leases is not None else LeaseBook()
    app = Flask("testbed_agent")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    expected = token.encode()

    @app.before_request
    def check_token() -> None:
        if request.path in PUBLIC_PATHS:
            return
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise AuthError(UNAUTHORIZED)

    @app.after_request
    def add_schema(response: Response) -> Response:
        """Every JSON object the agent answers carries its wire schema version (``schema``)."""
        if response.is_json and response.status_code != 204:
            body = response.get_json(silent=True)
            if isinstance(body, dict) and "schema" not in body:
                response.set_data(app.json.dumps({**body, "schema": SCHEMA_VERSION}))
        return response

    @app.errorhandler(AgentError)
    def agent_error(exc: AgentError) -> tuple[Response, int]:
        response = jsonify(error=str(exc), **getattr(exc, "payload", {}))
        if isinstance(exc, AuthError):
            response.headers["WWW-Authenticate"] = "Bearer"
        return response, exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(error=f"{exc.code} {exc.name}: {exc.description}"), exc.code or 500

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        return jsonify(error=f"agent error: {type(exc).__name__}: {exc}"), 500

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "schema": SCHEMA_VERSION}

    @app.get("/v1/info")
    def info() -> dict[str, Any]:
        return agent_info()

    @app.put("/v1/artifacts/<sha256>")
    def put_artifact(sha256: str) -> tuple[dict[str, Any], int]:
        size = store.put(sha256, request.stream)
        return {"sha256": sha256.lower(), "size_bytes": size}, 201

    @app.get("/v1/artifacts/<sha256>")
    def get_artifact(sha256: str) -> dict[str, Any]:
        return {"sha256": sha256.lower(), "size_bytes": store.check(sha256)}

    @app.post("/v1/runs")
    def post_run() -> tuple[dict[str, Any], int]:
        body = request.get_json(force=True, silent=True)
        if body is None:
            raise RequestError("the request body must be a JSON object (Content-Type: application/json)")
        lease_id = body.pop("lease_id", None) if isinstance(body, dict) else None
        if lease_id is not None and not isinstance(lease_id, str):
            raise RequestError(f"lease_id must be a string, got {lease_id!r:.40}")
        leases.check_run(lease_id)
        run_request = parse_run_request(body, default_timeout_s=default_timeout_s,
                                        allow_debug=allow_debug, probes=runtime_probes())
        store.check(run_request["artifact_sha256"])
        store.check(run_request["inputs_sha256"])
        if lease_id is not None:
            run_request["lease_id"] = lease_id  # kept in the run record: who measured when
        run = manager.submit(run_request)
        return {"id": run.id, "state": run.state}, 202

    @app.get("/v1/runs/<run_id>")
    def get_run(run_id: str) -> dict[str, Any]:
        found = manager.get(run_id)
        if found is None:
            raise NotFoundError(f"no run {run_id!r:.80} on this agent")
        return found

    @app.post("/v1/lease")
    def post_lease() -> dict[str, Any]:
        holder, ttl_s = parse_lease_request(request.get_json(force=True, silent=True))
        return leases.acquire(holder, ttl_s)

    @app.get("/v1/lease")
    def get_lease() -> dict[str, Any]:
        return {"lease": leases.current()}

    @app.put("/v1/lease/<lease_id>")
    def put_lease(lease_id: str) -> dict[str, Any]:
        body = request.get_json(force=True, silent=True) or {}
        _, ttl_s = parse_lease_request(body, need_holder=False)
        return leases.renew(lease_id, ttl_s if "ttl_s" in body else None)

    @app.delete("/v1/lease/<lease_id>")
    def delete_lease(lease_id: str) -> dict[str, Any]:
        return {"released": leases.release(lease_id)}

    @app.get("/v1/runs")
    def list_runs() -> Response:
        return jsonify(manager.recent(50))

    @app.post("/v1/workers/prestart")
    def prestart_workers() -> tuple[dict[str, Any], int]:
        runtimes = parse_prestart(request.get_json(force=True, silent=True), runtime_probes())
        prestart = getattr(manager.runner, "prestart", None)  # a runner without fork servers: nothing
        states = prestart([rt for rt, why in runtimes.items() if why is None]) if prestart else {}
        for rt, why in runtimes.items():
            states.setdefault(rt, {"state": "unavailable", "error": why} if why else {"state": "exec"})
        return {"workers": states}, 202

    @app.get("/v1/workers")
    def get_workers() -> dict[str, Any]:
        status = getattr(manager.runner, "status", None)
        return {"fork": bool(getattr(manager.runner, "fork", False)), "workers": status() if status else {}}

    return app


def parse_prestart(body: Any, probes: dict[str, Any]) -> dict[str, str | None]:
    """``{"runtimes": [names]}`` -> each name and why it cannot start (None: it can). An unknown
    name or a malformed body is the caller's error (400)."""
    runtimes = body.get("runtimes") if isinstance(body, dict) else None
    if (not isinstance(body, dict) or set(body) - {"runtimes"} or not isinstance(runtimes, list)
            or not all(isinstance(rt, str) for rt in runtimes)):
        raise RequestError('the body must be {"runtimes": [names of runtimes]}')
    unknown = [rt for rt in runtimes if rt not in probes]
    if unknown:
        raise RequestError(f"unknown runtime {unknown[0]!r:.40}; this agent has {', '.join(probes)}")
    out: dict[str, str | None] = {}
    for rt in runtimes:
        probe = probes[rt]
        out[rt] = None if probe.available else (probe.reason or "not available")
    return out
