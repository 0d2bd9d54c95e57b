"""KPI breakdown by group (R-27, R-28 figures per provider/product/municipality/month)."""

from __future__ import annotations

from datetime import date

import pytest

from application.demo import generate
from projections.kpi_groups import (
    GROUPS,
    UnknownGroup,
    grouped,
    months_between,
    parse_group_by,
    table,
)
from projections.kpis import summarise
from projections.queries import kpis_of
from tests.builders import catalogue


def summaries(n: int = 40, tenant: str = "zou") -> list:
    cat = catalogue(tenant)
    out = []
    for case in generate(n, seed=11):
        if case.state.tenant == tenant:
            out.append(summarise(str(case.id), case.state, case.entries, cat, case.version))
    return out


def test_group_by_is_put_in_table_order_and_refuses_unknown_names() -> None:
    assert parse_group_by(None) == GROUPS
    assert parse_group_by("month, provider") == ("provider", "month")
    assert parse_group_by("") == ()
    with pytest.raises(UnknownGroup, match="client"):
        parse_group_by("provider,client")


def test_months_are_clipped_to_the_period() -> None:
    assert list(months_between(date(2022, 1, 20), date(2022, 3, 5))) == [
        ("2022-01", date(2022, 1, 20), date(2022, 1, 31)),
        ("2022-02", date(2022, 2, 1), date(2022, 2, 28)),
        ("2022-03", date(2022, 3, 1), date(2022, 3, 5)),
    ]


def test_R27_each_group_equals_the_kpis_of_its_filter() -> None:
    everyone = summaries()
    start, end = date(2022, 1, 1), date(2022, 12, 31)
    groups = grouped(
        everyone, start, end, ("provider", "product"), lasting_months=12, decision_within_days=56
    )
    assert len(groups) >= 3
    for g in groups:
        alone = kpis_of(everyone, start, end, lasting_months=12, decision_within_days=56, **g.keys)
        assert g.kpis == alone
    # month groups: the period clipped to the month, with lasting outflow over all cases
    for g in grouped(
        everyone, start, end, ("provider", "month"), lasting_months=12, decision_within_days=56
    ):
        first, last = g.kpis.period_start, g.kpis.period_end
        assert f"{first:%Y-%m}" == f"{last:%Y-%m}" == g.keys["month"]
        alone = kpis_of(
            everyone,
            first,
            last,
            lasting_months=12,
            decision_within_days=56,
            provider=g.keys["provider"],
        )
        assert g.kpis == alone
    # every case in scope is in exactly one provider group
    by_provider = grouped(
        everyone, start, end, ("provider",), lasting_months=12, decision_within_days=56
    )
    whole = kpis_of(everyone, start, end, lasting_months=12, decision_within_days=56)
    assert sum(g.kpis.cases for g in by_provider) == whole.cases
    assert sum(g.kpis.uitstroom.count for g in by_provider) == whole.uitstroom.count


def test_no_breakdown_is_one_row_of_the_whole_filter() -> None:
    everyone = summaries()
    start, end = date(2022, 1, 1), date(2022, 6, 30)
    (only,) = grouped(
        everyone, start, end, (), lasting_months=12, decision_within_days=56, provider="aanbieder-a"
    )
    assert only.keys == {}
    assert only.kpis == kpis_of(
        everyone, start, end, lasting_months=12, decision_within_days=56, provider="aanbieder-a"
    )


def test_table_columns_follow_the_kpi_document_with_a_column_per_reason() -> None:
    everyone = summaries()
    groups = grouped(
        everyone,
        date(2022, 1, 1),
        date(2022, 12, 31),
        ("provider",),
        lasting_months=12,
        decision_within_days=56,
    )
    columns, rows = table(groups, ("provider",))
    assert columns[:5] == ["provider", "period_start", "period_end", "as_of", "cases"]
    assert columns.index("uitstroom.count") < columns.index("uitstroom.by_reason.19")
    assert columns.index("uitstroom.by_reason.19") < columns.index("uitstroom.lasting")
    assert "doorlooptijd.trajectory_days.p90" in columns
    assert "cost" in columns
    assert not any(c.startswith("filters") for c in columns)
    assert all(set(row) <= set(columns) for row in rows)
