"""A request the agent refuses (HTTP 4xx) is a finding, not a board fault: a plan run against a real agent
(the local transport) and a real store, where one cell's run request carries a ``runtime_settings`` key
the agent does not know. That cell is ``failed`` with the agent's 400 reason after one attempt (never
retried), and the board's other cells still run and finish; the board stays ``ok``.

The host's own profile schema refuses a misspelt key before any request is sent, so the bad key is put
on the wire the way a host newer than its agent would send it: by the connector the plan runs with.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from helpers.nightly import Lab, make_lab
from testbed.engine import plan as P
from testbed.engine.context import connect_profile
from testbed.nightly import runner
from testbed.store import Store

pytestmark = pytest.mark.integration

BAD_THREADS = 1  # the cell whose requests carry the unknown key: t1, the board's first cell


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = make_lab(tmp_path_factory.mktemp("errors-lab"))
    sys.path.insert(0, str(lab.root / "models"))
    yield lab
    sys.path.remove(str(lab.root / "models"))


def test_agent_4xx_fails_the_cell_once_and_the_board_goes_on(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTBED_PROFILES", lab.env["TESTBED_PROFILES"])
    plan = P.load(lab.plan("nb-4xx", models=[lab.model("nb_4xx", 2)], threads=[1, 2, 3], repeats=2,
                           measure={"iterations": 200, "warmup": 5}, execution={"retries": 2, "backoff_s": 0.1}))
    sent: list[dict] = []

    def connect(profile: Any) -> tuple[Any, Any]:
        transport, client = connect_profile(profile)
        start_run = client.start_run

        def tampered(request: dict) -> str:
            if request.get("threads") == BAD_THREADS:
                request = {**request, "runtime_settings": {**request.get("runtime_settings", {}),
                                                           "no_such_setting": True}}
            sent.append(request)
            return start_run(request)

        client.start_run = tampered
        return transport, client

    store = Store(lab.db)
    out = runner.start(plan, store, connect=connect)

    assert out.boards["nbl"][0] == "ok", out.boards
    assert out.counts == {"failed": 1, "done": 2}, out.counts
    cells = {c.threads: c for c in store.plan_cells(out.run_id)}
    bad = cells[BAD_THREADS]
    assert bad.state == "failed" and bad.attempts == 1, (bad.state, bad.attempts, bad.error)
    assert "HTTP 400" in bad.error and "no_such_setting" in bad.error, bad.error  # the agent's own reason
    assert "board" not in bad.error and "attempts" not in bad.error, bad.error
    assert len([r for r in sent if r["threads"] == BAD_THREADS]) == 1  # asked once: a 4xx is not retried
    for threads in (2, 3):  # the board's other cells ran after it and finished
        good = cells[threads]
        assert good.state == "done" and good.attempts == 1 and good.error is None, (threads, good.error)
        assert len([r for r in sent if r["threads"] == threads]) == 2  # both repeats measured
