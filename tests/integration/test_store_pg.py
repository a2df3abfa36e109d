"""The results store on a real PostgreSQL (a throwaway cluster: tests/helpers/postgres.py): the
migrations, concurrent opens, and the same plan run through `testbed run --db postgresql+psycopg://...`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from helpers import postgres
from helpers.nightly import Lab, make_lab
from testbed.store import Store
from testbed.store.db import current_revision, head_revision
from testbed.store.schema import Base

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg() -> Iterator[postgres.Postgres]:
    server = postgres.start()
    yield server
    server.stop()


def test_migrations_on_postgres_match_the_schema_and_concurrent_opens_agree(pg: postgres.Postgres) -> None:
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            Store(pg.url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(3)]  # three hosts open a new database
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    store = Store(pg.url)
    with store.engine.connect() as conn:
        assert conn.dialect.name == "postgresql"
        assert current_revision(conn) == head_revision()
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []


def test_the_same_plan_runs_against_postgres(pg: postgres.Postgres, tmp_path: Path) -> None:
    lab: Lab = make_lab(tmp_path / "lab")
    plan = lab.plan("pg-plan", models=[lab.model("nb_pg", 4), "digits_cnn"], repeats=2)
    rc1, first = lab.run_json("run", "--plan", str(plan), "--db", pg.url)
    assert rc1 == 0, first
    rc2, second = lab.run_json("run", "--plan", str(plan), "--db", pg.url)
    assert rc2 in (0, 1), second  # a regression verdict is the verdicts' business; the store must work
    assert second["baseline"] == first["run_id"]
    assert {c["state"] for c in second["cells"]} == {"done"}
    assert all(c["verdict"] in ("unchanged", "noisy", "improved", "regressed") for c in second["cells"])

    store = Store(pg.url)
    assert [r.id for r in store.plan_runs("pg-plan")] == [second["run_id"], first["run_id"]]
    with store.engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM results r JOIN plan_cells c ON r.cell_id = c.id "
                                 "WHERE c.run_id = :run"), {"run": second["run_id"]}).scalar_one()
        assert n == 2 * len(second["cells"])  # every repeat stored
        stored = [row[0] for row in conn.execute(sa.text("SELECT samples_ns FROM results WHERE cell_id IS NOT NULL"))]
        assert all(s["codec"] == "i8-shuffle-zlib/1" for s in stored)  # long lists: compressed in the JSON column
    cells = store.plan_cells(second["run_id"])
    results = [r for rs in store.cell_results(c.id for c in cells).values() for r in rs]
    assert min(len(r.samples_ns) for r in results) >= 300  # raw samples kept (the profile times 300)
    for r in results:  # and every statistic still comes from them: the stored record agrees
        assert len(r.samples_ns) == r.record["latency_ms"]["n"] and all(isinstance(x, int) for x in r.samples_ns)
    csv = tmp_path / "pg.csv"
    proc = lab.testbed("report", second["run_id"], "--db", pg.url, "--csv", str(csv))
    assert proc.returncode == 0, proc.stderr
    assert len(csv.read_text().splitlines()) == 1 + len(second["cells"])
