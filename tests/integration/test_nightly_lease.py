"""The board lease against a real agent process: the HTTP API (409 with holder and expiry, runs refused
without the lease, expiry, release), and two plans started at once on one board never overlapping -
checked on the agent's own run records (start/finish times and the lease each run was submitted with).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agent_fixtures import TOKEN, Agent, start_agent, stop_agent
from helpers.nightly import Lab, make_lab
from testbed.agent_client import AgentClient
from testbed.engine import plan as P
from testbed.nightly import runner
from testbed.store import Store
from testbed.transports.base import Transport
from testbed_agent.schema import SCHEMA_VERSION

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shared_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    agent = start_agent(tmp_path_factory.mktemp("lease-agent") / "store", args=["--run-timeout-s", "120"])
    yield agent
    stop_agent(agent)


def test_lease_http_api(shared_agent: Agent) -> None:
    call = shared_agent.call
    first = call("POST", "/v1/lease", json={"holder": "host-a:1:run", "ttl_s": 1.5})
    assert first.status_code == 200, first.text
    lease = first.json()
    assert lease["holder"] == "host-a:1:run" and 0 < lease["expires_in_s"] <= 1.5 and lease["expires_at"]
    busy = call("POST", "/v1/lease", json={"holder": "host-b:2:run", "ttl_s": 60})
    assert busy.status_code == 409
    assert busy.json()["holder"] == "host-a:1:run" and busy.json()["expires_at"] and "lease_id" not in busy.json()
    again = call("POST", "/v1/lease", json={"holder": "host-a:1:run", "ttl_s": 1.5})
    assert again.status_code == 200 and again.json()["lease_id"] == lease["lease_id"]  # same holder: same lease
    bare_run = call("POST", "/v1/runs", json={"runtime": "onnxruntime"})
    assert bare_run.status_code == 409 and "host-a:1:run" in bare_run.json()["error"]
    seen = call("GET", "/v1/lease").json()["lease"]
    assert seen["holder"] == "host-a:1:run" and "lease_id" not in seen
    assert call("GET", "/v1/lease", token=None).status_code == 401
    time.sleep(1.8)  # not renewed: expired
    assert call("GET", "/v1/lease").json() == {"lease": None, "schema": SCHEMA_VERSION}
    assert call("PUT", f"/v1/lease/{lease['lease_id']}", json={}).status_code == 404
    stale = call("POST", "/v1/runs", json={"runtime": "onnxruntime", "lease_id": lease["lease_id"]})
    assert stale.status_code == 409 and "expired" in stale.json()["error"]
    b = call("POST", "/v1/lease", json={"holder": "host-b:2:run", "ttl_s": 60}).json()
    assert call("PUT", f"/v1/lease/{b['lease_id']}", json={"ttl_s": 30}).json()["ttl_s"] == 30
    assert call("DELETE", f"/v1/lease/{b['lease_id']}").json() == {"released": True, "schema": SCHEMA_VERSION}
    assert call("DELETE", f"/v1/lease/{b['lease_id']}").json() == {"released": False, "schema": SCHEMA_VERSION}
    assert call("POST", "/v1/lease", json={"holder": "", "ttl_s": 5}).status_code == 400
    assert call("POST", "/v1/lease", json={"holder": "x", "ttl_s": 0}).status_code == 400
    newer = call("POST", "/v1/lease", json={"holder": "x", "ttl_s": 5, "schema": SCHEMA_VERSION + 1})
    assert newer.status_code == 426 and "upgrade the agent" in newer.json()["error"]


class SharedAgentTransport(Transport):
    """Reaches one already running agent by URL (both 'hosts' of the test talk to the same board)."""

    name = "test-shared-agent"

    def __init__(self, profile: Any, url: str) -> None:
        super().__init__(profile)
        self.url = url
        self.client: AgentClient | None = None

    def open(self) -> AgentClient:
        self.client = AgentClient(self.url, TOKEN, where=self.profile.id)
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = make_lab(tmp_path_factory.mktemp("lease-lab"))
    sys.path.insert(0, str(lab.root / "models"))
    yield lab
    sys.path.remove(str(lab.root / "models"))


def _plan(lab: Lab, name: str, **keys: Any) -> P.Plan:
    return P.load(lab.plan(name, models=[lab.model("nb_lease", 6)], **keys))


def _warm_cache(plan: P.Plan, monkeypatch: pytest.MonkeyPatch, lab: Lab) -> None:
    """Convert once up front, so the two 'hosts' below only read the artifact cache."""
    import testbed_zoo
    from testbed.converters import build

    for cell in P.expand(plan, P.resolve_devices(plan)):
        build(cell["converter"], testbed_zoo.load(cell["model"]))


def test_two_plans_at_once_on_one_board_never_overlap(shared_agent: Agent, lab: Lab,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTBED_PROFILES", lab.env["TESTBED_PROFILES"])
    plans = [_plan(lab, "lease-a", measure={"iterations": 1500, "warmup": 5}),
             _plan(lab, "lease-b", measure={"iterations": 1500, "warmup": 5})]
    _warm_cache(plans[0], monkeypatch, lab)
    outcomes: dict[str, Any] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def host(plan: P.Plan) -> None:
        try:
            store = Store(lab.db)  # each "host" opens the store itself
            start.wait()
            outcomes[plan.name] = runner.start(plan, store, connect=lambda prof: (
                t := SharedAgentTransport(prof, shared_agent.url), t.open()))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=host, args=(p,)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors
    for name in ("lease-a", "lease-b"):
        out = outcomes[name]
        assert out.counts == {"done": 1} and out.boards["nbl"][0] == "ok", (name, out)

    runs = [r for r in shared_agent.call("GET", "/v1/runs").json() if r["request"].get("lease_id")]
    runs.sort(key=lambda r: r["started_at"])
    assert len(runs) == 2 * 3  # two plans x one cell x three repeats, every one under a lease
    for prev, nxt in zip(runs, runs[1:]):  # no two runs at once
        assert prev["finished_at"] <= nxt["started_at"], (prev, nxt)
    spans: dict[str, tuple[str, str]] = {}
    for r in runs:
        lo, hi = spans.get(r["request"]["lease_id"], (r["started_at"], r["finished_at"]))
        spans[r["request"]["lease_id"]] = (min(lo, r["started_at"]), max(hi, r["finished_at"]))
    assert len(spans) == 2  # one lease per plan...
    (a0, a1), (b0, b1) = sorted(spans.values())
    assert a1 <= b0, spans  # ...and one plan's runs all end before the other's begin: never interleaved


def test_busy_board_is_skipped_when_the_plan_says_skip(shared_agent: Agent, lab: Lab,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTBED_PROFILES", lab.env["TESTBED_PROFILES"])
    held = shared_agent.call("POST", "/v1/lease", json={"holder": "other-host:99:night", "ttl_s": 120}).json()
    try:
        plan = _plan(lab, "lease-skip", execution={"on_busy": "skip", "retries": 0})
        out = runner.start(plan, Store(lab.db), connect=lambda prof: (
            t := SharedAgentTransport(prof, shared_agent.url), t.open()))
    finally:
        shared_agent.call("DELETE", f"/v1/lease/{held['lease_id']}")
    status, reason = out.boards["nbl"]
    assert status == "busy" and "other-host:99:night" in reason, out.boards
    assert out.counts == {"skipped": 1} and out.exit_code == 3
