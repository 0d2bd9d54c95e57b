"""R-31 in SQL (projections/kpi_cells.py): the window test without date arithmetic and the
cutoff of passed windows equal ``add_months`` day for day, month ends and leap days included.
The SQL is run on SQLite here; tests/integration/test_kpi_cells.py compares the whole KPI
document on both stores."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

import pytest

from domain.rules import add_months
from projections.kpi_cells import _lasting_cutoff, returned_within

DAYS = [date(2023, 11, 15) + timedelta(days=i) for i in range(0, 560, 3)] + [
    date(2024, 1, 31), date(2024, 2, 29), date(2023, 2, 28), date(2024, 3, 31),
    date(2024, 8, 31), date(2025, 2, 28), date(2024, 12, 31), date(2025, 1, 31),
]  # fmt: skip


@pytest.mark.parametrize("months", [1, 12, 13])
def test_R31_return_window_in_sql_equals_add_months(months: int) -> None:
    db = sqlite3.connect(":memory:")
    returned = returned_within("r", "e")
    ends = DAYS
    referrals = [
        *DAYS,
        *(add_months(d, months) + timedelta(days=k) for d in DAYS for k in (-1, 0, 1)),
    ]
    for e in ends:
        for r in referrals:
            (sql,) = db.execute(
                f"SELECT {returned} FROM (SELECT ? AS e, ? AS r)",
                (months, months, e.isoformat(), r.isoformat()),
            ).fetchone()
            assert bool(sql) == (e < r <= add_months(e, months)), (e, r, months)


@pytest.mark.parametrize("months", [1, 12, 13])
def test_R31_passed_window_cutoff_equals_add_months(months: int) -> None:
    for reference in DAYS:
        cutoff = date.fromisoformat(_lasting_cutoff(reference, months))
        for day in [*DAYS, cutoff, cutoff + timedelta(days=1), cutoff - timedelta(days=1)]:
            assert (day <= cutoff) == (add_months(day, months) <= reference), (day, reference)
