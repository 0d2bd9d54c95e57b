"""Readable builders for facts and actors used across the tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from domain import facts as f
from domain.case import Case
from domain.catalogue import Catalogue, default_catalogues
from domain.values import Actor, Volume

UTC = UTC


def catalogue(tenant: str = "zou") -> Catalogue:
    return default_catalogues().for_tenant(tenant)


def municipality(tenant: str = "zou") -> Actor:
    return Actor(sub="consulent-1", role="municipality", tenant=tenant)


def provider(tenant: str = "zou", name: str = "aanbieder-a") -> Actor:
    return Actor(sub="begeleider-1", role="provider", tenant=tenant, provider=name)


def referral(tenant: str = "zou", on: date = date(2024, 1, 8), **kw: object) -> f.Referral:
    town = "Houten" if tenant == "zou" else "Dordrecht"
    values: dict[str, object] = {
        "client_ref": "client-0001",
        "tenant": tenant,
        "municipality": town,
        "provider": "aanbieder-a",
        "referred_on": on,
    }
    values.update(kw)
    return f.Referral(**values)  # type: ignore[arg-type]


def hours(n: float | int, frequency: str = "week") -> Volume:
    return Volume(amount=Decimal(str(n)), unit="hour", frequency=frequency)  # type: ignore[arg-type]


def pieces(n: int = 1, frequency: str = "week") -> Volume:
    return Volume(amount=Decimal(n), unit="piece_output", frequency=frequency)  # type: ignore[arg-type]


def indication(
    product: str = "02A05",
    starts_on: date = date(2024, 1, 15),
    ends_on: date = date(2024, 12, 31),
    volume: Volume | None = None,
    number: str = "TW-0001",
    **kw: object,
) -> f.Indication:
    if volume is None:
        volume = hours(4) if product.startswith("02") else pieces()
    values: dict[str, object] = {
        "assignment_number": number,
        "product": product,
        "volume": volume,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "decision_ref": "BESCH-1",
        "decided_on": starts_on,
    }
    values.update(kw)
    return f.Indication(**values)  # type: ignore[arg-type]


def contact(on: date = date(2024, 2, 1), minutes: int = 60, **kw: object) -> f.Contact:
    values: dict[str, object] = {"occurred_on": on, "minutes": minutes, "kind": "direct"}
    values.update(kw)
    return f.Contact(**values)  # type: ignore[arg-type]


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def active_case(tenant: str = "zou", product: str | None = None) -> Case:
    """Given a case referred, indicated and started."""
    cat = catalogue(tenant)
    product = product or ("02A05" if tenant == "zou" else "IB2")
    case = Case.open(municipality(tenant), referral(tenant), cat)
    case.record(municipality(tenant), indication(product), cat)
    case.record(provider(tenant), f.CareStart(started_on=date(2024, 1, 20)), cat)
    return case


def no_show(day: date, planned_minutes: int | None = 60, **kw: object) -> f.NoShow:
    """A missed appointment at 10:00 UTC on ``day`` (R-13), 60 planned minutes."""
    values: dict[str, object] = {"scheduled_at": at(day), "planned_minutes": planned_minutes}
    values.update(kw)
    return f.NoShow(**values)  # type: ignore[arg-type]


def zou_case(
    product: str = "02A05",
    starts_on: date = date(2024, 1, 15),
    ends_on: date = date(2024, 12, 31),
    volume: Volume | None = None,
) -> Case:
    """Given a ZOU case indicated for ``product`` over the span and started on its start."""
    cat = catalogue("zou")
    case = Case.open(municipality(), referral(on=starts_on - timedelta(days=7)), cat)
    case.record(
        municipality(),
        indication(product, starts_on=starts_on, ends_on=ends_on, volume=volume),
        cat,
    )
    case.record(provider(), f.CareStart(started_on=starts_on), cat)
    return case
