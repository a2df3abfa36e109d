"""agent_client maps what the agent answers (or fails to) onto the error tree: each error says whether a
retry can help. A real HTTP server in a thread answers with the status each test asks for."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from testbed import errors
from testbed.agent_client import AgentClient
from testbed.errors import (
    PERMANENT,
    RETRYABLE,
    AgentAuthError,
    AgentError,
    AgentRequestError,
    AgentServerError,
    AgentStateError,
    TestbedError,
)


class _Handler(BaseHTTPRequestHandler):
    """Answers ``/status/<code>`` with that status and ``{"error": "reason <code>"}``."""

    def _answer(self) -> None:
        code = int(self.path.rsplit("/", 1)[-1])
        body = json.dumps({"error": f"reason {code}"} if code >= 400 else {"ok": True}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def client() -> Iterator[AgentClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    agent = AgentClient(f"http://127.0.0.1:{server.server_address[1]}", "token", where="board1", timeout_s=5)
    yield agent
    agent.close()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "cls", "retryable"), [
    (400, AgentRequestError, False),  # e.g. a runtime_settings key the agent does not know
    (413, AgentRequestError, False),
    (422, AgentRequestError, False),
    (401, AgentAuthError, False),
    (404, AgentStateError, True),  # the agent restarted: the run or artifact is gone
    (409, AgentStateError, True),  # the lease expired or another host holds it
    (500, AgentServerError, True),
    (503, AgentServerError, True),
])
def test_http_status_maps_to_the_most_specific_error(client: AgentClient, status: int, cls: type,
                                                     retryable: bool) -> None:
    with pytest.raises(AgentError) as info:
        client._call("POST", f"/status/{status}")
    err = info.value
    assert type(err) is cls and err.status == status
    assert err.retryable is retryable and isinstance(err, RETRYABLE) is retryable
    assert isinstance(err.__cause__, requests.HTTPError)  # raise ... from exc: the HTTP error is kept
    if status != 401:  # the agent's reason travels in the one-line message
        assert str(err) == f"agent on board1: POST /status/{status} -> HTTP {status}: reason {status}"


def test_expected_statuses_are_answers_not_errors(client: AgentClient) -> None:
    assert client._call("GET", "/status/404", ok=(200, 404)).status_code == 404
    assert client._call("GET", "/status/200").json() == {"ok": True}


def test_unexpected_success_status_is_a_server_error(client: AgentClient) -> None:
    with pytest.raises(AgentServerError, match="unexpected HTTP 204"):
        client._call("GET", "/status/204")


def test_no_answer_is_a_retryable_server_error() -> None:
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    agent = AgentClient(f"http://127.0.0.1:{port}", "token", where="board1", timeout_s=2)
    with pytest.raises(AgentServerError, match="did not answer GET /v1/health") as info:
        agent.health()
    assert info.value.retryable and info.value.status is None
    assert isinstance(info.value.__cause__, requests.ConnectionError)


def test_every_class_declares_retryable_consistently_with_the_except_tuples() -> None:
    """``retryable`` on the class and the RETRYABLE/PERMANENT tuples that except clauses use agree."""
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, TestbedError)]
    assert len(classes) >= 13
    for cls in classes:
        in_tuples = issubclass(cls, RETRYABLE) and not issubclass(cls, PERMANENT)
        assert cls.retryable is in_tuples, cls
    assert not any(c.retryable for c in PERMANENT)
