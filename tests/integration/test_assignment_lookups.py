"""The lookups of a case by its assignment number (iWmo messages name the assignment by
ToewijzingNummer) read an index, not the whole table (migrations/0014), on both stores."""

from __future__ import annotations

import pytest

from storage.config import store_config
from storage.views import ViewStore

LOOKUPS = [
    # iwmo/inbound.py Inbound.case_for, an assignment granted through the JSON API
    ("entitlement_assignment", "SELECT case_id FROM entitlement WHERE tenant = ? AND assignment_number = ?", ("zou", "B0000001")),
    # iwmo/declared.py _Cases.find, for each line of a declaration
    ("entitlement_assignment", "SELECT DISTINCT case_id FROM entitlement WHERE tenant = ? AND provider = ? AND assignment_number = ?", ("zou", "aanbieder-a", "B0000001")),
    ("iwmo_declared_line_assignment", "SELECT DISTINCT case_id FROM iwmo_declared_line WHERE tenant = ? AND provider = ? AND assignment_number = ? AND case_id IS NOT NULL", ("zou", "aanbieder-a", "B0000001")),
]  # fmt: skip


@pytest.mark.parametrize(("index", "statement", "params"), LOOKUPS)
def test_a_case_is_found_by_its_assignment_number_through_an_index(
    database_url: str, index: str, statement: str, params: tuple[str, ...]
) -> None:
    views = ViewStore(store_config(database_url))
    try:
        if views.is_postgres:
            # the plan of a table of any size: on a small one PostgreSQL reads the table
            with views.transaction() as cur:
                cur.execute("SET LOCAL enable_seqscan = off")
                cur.execute(views.sql("EXPLAIN " + statement), params)
                plan = "\n".join(str(r[0]) for r in cur.fetchall())
        else:
            rows = views.query("EXPLAIN QUERY PLAN " + statement, params)
            plan = "\n".join(str(r[-1]) for r in rows)
        assert index in plan, plan
    finally:
        views.close()
