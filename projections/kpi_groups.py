"""KPIs broken down by group (provider, product, municipality, month) as flat table rows.

Each row is exactly the KPI document that ``GET /v1/kpis`` answers for that group's filter
(``projections.queries.kpis_of``: the same function, over the same summaries read once),
flattened to columns: ``uitstroom.count``, ``doorlooptijd.trajectory_days.p90``,
``uitstroom.by_reason.19``, ... A ``month`` group is the period clipped to that calendar
month. Groups come from the cases in scope of the period; a group without cases in scope
is left out (its figures would all be empty).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, get_origin

import msgspec

from projections.kpis import CaseSummary, Kpis, in_scope
from projections.queries import kpis_of

GROUPS = ("provider", "product", "municipality", "month")
#: columns every row has before the figures
LEADING = ("period_start", "period_end", "as_of", "cases")


class UnknownGroup(ValueError):
    """``group_by`` named something other than provider, product, municipality, month."""


def parse_group_by(text: str | None) -> tuple[str, ...]:
    """``"month,provider"`` -> ("provider", "month") (table order); absent: all four."""
    if text is None:
        return GROUPS
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        raise UnknownGroup(", ".join(unknown))
    return tuple(g for g in GROUPS if g in names)


@dataclass(frozen=True)
class Group:
    keys: dict[str, str]
    kpis: Kpis


def months_between(start: date, end: date) -> Iterator[tuple[str, date, date]]:
    """Each calendar month overlapping ``[start, end]``, clipped to it."""
    day = start.replace(day=1)
    while day <= end:
        following = (day + timedelta(days=32)).replace(day=1)
        yield f"{day:%Y-%m}", max(day, start), min(following - timedelta(days=1), end)
        day = following


def grouped(
    everyone: list[CaseSummary],
    start: date,
    end: date,
    group_by: tuple[str, ...],
    *,
    lasting_months: int,
    decision_within_days: int,
    provider: str | None = None,
    municipality: str | None = None,
    product: str | None = None,
    as_of: datetime | None = None,
) -> list[Group]:
    """One group per combination of the chosen dimensions that has cases in scope."""
    fixed = {"provider": provider, "municipality": municipality, "product": product}
    scope = [
        s
        for s in everyone
        if in_scope(s, start, end)
        and (not provider or s.provider == provider)
        and (not municipality or s.municipality == municipality)
        and (not product or product in s.products)
    ]
    by_client: dict[str, list[CaseSummary]] = defaultdict(list)
    for s in everyone:
        by_client[s.client_ref].append(s)
    buckets: dict[tuple[str, str], list[CaseSummary]] = defaultdict(list)
    for s in scope:
        buckets[(s.provider, s.municipality)].append(s)
    values = {
        "provider": sorted({s.provider for s in scope}),
        "municipality": sorted({s.municipality for s in scope}),
        "product": sorted({p for s in scope for p in s.products}),
    }
    dims = [d for d in group_by if d != "month"]
    months = list(months_between(start, end)) if "month" in group_by else [("", start, end)]
    out: list[Group] = []
    for combo in itertools.product(*(values[d] for d in dims)):
        keys = dict(zip(dims, combo, strict=True))
        chosen = {k: keys.get(k) or fixed[k] for k in fixed}
        candidates = [
            s
            for (p, m), bucket in buckets.items()
            if (not chosen["provider"] or p == chosen["provider"])
            and (not chosen["municipality"] or m == chosen["municipality"])
            for s in bucket
        ]
        for month, first, last in months:
            # Only what the figures read: the cases in scope of this group's period, and
            # for lasting outflow every case of their clients (any provider).
            scoped = [s for s in candidates if in_scope(s, first, last)]
            if not scoped:
                continue
            related = [r for c in {s.client_ref for s in scoped} for r in by_client[c]]
            figures = kpis_of(
                related,
                first,
                last,
                lasting_months=lasting_months,
                decision_within_days=decision_within_days,
                as_of=as_of,
                candidates=scoped,
                **chosen,
            )
            if figures.cases:
                out.append(Group(keys | ({"month": month} if month else {}), figures))
    return out


# --- flat rows -------------------------------------------------------------------------------


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested builtins to ``{"a.b.c": leaf}``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= flatten(v, f"{prefix}{k}.")
        return out
    return {prefix[:-1]: value}


def figures(kpis: Kpis) -> dict[str, Any]:
    """The KPI document's figures as flat columns (its filters are the group's keys)."""
    flat = flatten(msgspec.to_builtins(kpis))
    return {k: v for k, v in flat.items() if not k.startswith("filters.")}


def _paths(cls: type[msgspec.Struct], prefix: str = "") -> Iterator[str]:
    """Column order from the Kpis type: struct fields in order, ``x.*`` for a dict field."""
    for field in msgspec.structs.fields(cls):
        name = prefix + field.encode_name
        kind = field.type
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            yield from _paths(kind, name + ".")
        elif get_origin(kind) is dict:
            yield name + ".*"
        else:
            yield name


def table(groups: list[Group], group_by: tuple[str, ...]) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and one flat row per group; dict figures (reasons, ZRM domains) get a
    column per key found in any row, sorted."""
    rows = [g.keys | figures(g.kpis) for g in groups]
    found = set().union(*rows) if rows else set()
    columns = [*group_by, *LEADING]
    for path in _paths(Kpis):
        if path.startswith("filters") or path in LEADING:
            continue
        if path.endswith(".*"):
            stem = path[:-1]
            columns += sorted(k for k in found if k.startswith(stem))
        else:
            columns.append(path)
    return columns, rows
