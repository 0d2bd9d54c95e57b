"""The monthly declaration (WMO323) of one provider to one municipality, without side effects.

Its lines are the declarations projection's (``projections.declarations``): one Prestatie
per client per assignment per calendar month, GeleverdVolume in the assignment's unit (hours
rounded on the period total, at least 1: IV079), ProductTarief and IngediendBedrag in
eurocents with ``IngediendBedrag = GeleverdVolume x ProductTarief`` (rule 9346).

What was declared before decides what is in it (``iwmo.declared`` keeps what the provider
submitted): a line not declared yet is a debit line; a declared line that changed since (a
correction, a retraction, a late contact) is a credit line repeating the old line
(``VorigReferentieNummer`` = its reference) plus a new debit line; a declared line gone
since is credited only; an unchanged declared line is not repeated. ReferentieNummers and
the DeclaratieNummer are derived from the lines' content and the history of their key, so
a repeated GET gives the same message and a new line never reuses a number.

A declaration cannot be built (HTTP 409, rule ``C-03``) where the catalogue has no price or
no iWmo code for a line, nor (409 ``C-07``) when there is nothing new to declare; a client
whose identity was erased makes it 410.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from application.registry import ClientRegistry
from domain.errors import RuleViolation
from iwmo import codec
from iwmo.declared import DeclaredLine, current_debits, history_count
from iwmo.messages import (
    BedragMetDC,
    Client323,
    Declaratie,
    GeslotenPeriode,
    Header,
    Prestatie,
    ProductReferentie,
    TotaalBedragMetDC,
    Wmo323,
)
from iwmo.outbox import EENHEID, NotMappable, codes
from projections.consumption import month_bounds
from projections.declarations import DeclarationLine, lines_for_month


@dataclass(frozen=True)
class Planned:
    """One Prestatie to send, with what identifies and compares it."""

    client_ref: str
    case_id: str
    assignment_number: str
    category: str
    code: str
    period_start: date
    period_end: date
    volume: int
    unit: str
    tariff_cents: int
    amount_cents: int
    debet_credit: str
    reference: str
    previous_reference: str | None = None

    @property
    def content(self) -> tuple[Any, ...]:
        return (
            self.code,
            self.period_start,
            self.period_end,
            self.volume,
            self.unit,
            self.tariff_cents,
            self.amount_cents,
        )


def _cents(value: str) -> int:
    return int((Decimal(value) * 100).to_integral_value())


def _reference(*parts: object) -> str:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return "R" + digest[:19].upper()


def _planned_debit(line: DeclarationLine, seen: int) -> Planned:
    if line.rate is None or line.declared_amount is None:
        raise RuleViolation(
            "C-03",
            f"no price for {line.product} in {line.month} (case {line.case_id}): the catalogue "
            "names none, so the declaration cannot be built",
        )
    if line.iwmo_category is None or line.iwmo_code is None:
        raise NotMappable(f"product {line.product} has no iWmo code in the catalogue")
    tariff = _cents(line.rate)
    content = (line.case_id, line.assignment_number, line.month)
    return Planned(
        client_ref=line.client_ref,
        case_id=line.case_id,
        assignment_number=line.assignment_number,
        category=line.iwmo_category,
        code=line.iwmo_code,
        period_start=line.period_start,
        period_end=line.period_end,
        volume=line.volume,
        unit=EENHEID[line.unit],
        tariff_cents=tariff,
        amount_cents=tariff * line.volume,
        debet_credit="D",
        reference=_reference(*content, seen, line.volume, tariff, line.period_start),
    )


def _credit(old: DeclaredLine, seen: int) -> Planned:
    return Planned(
        client_ref=old.client_ref,
        case_id=old.case_id or "",
        assignment_number=old.assignment_number,
        category=old.product_category,
        code=old.product_code,
        period_start=old.period_start,
        period_end=old.period_end,
        volume=old.volume,
        unit=old.unit,
        tariff_cents=old.tariff_cents,
        amount_cents=old.amount_cents,
        debet_credit="C",
        reference=_reference("C", old.referentie_nummer, seen),
        previous_reference=old.referentie_nummer,
    )


def plan(
    lines: list[DeclarationLine], declared: dict[tuple[str, str], DeclaredLine], seen: dict
) -> list[Planned]:
    """The Prestaties to send: new debits, credits of changed or vanished lines."""
    out: list[Planned] = []
    keys = set()
    for line in lines:
        key = (line.case_id, line.assignment_number)
        keys.add(key)
        debit = _planned_debit(line, seen.get(key, 0))
        old = declared.get(key)
        if old is None:
            out.append(debit)
        elif old.content != debit.content:
            out.append(_credit(old, seen.get(key, 0)))
            out.append(debit)
    for key, old in declared.items():
        if key not in keys:
            out.append(_credit(old, seen.get(key, 0)))
    return out


def build_declaration(
    app: Any,
    views: Any,
    tenant: str,
    provider: str,
    municipality: str,
    month: str,
    *,
    today: date | None = None,
) -> bytes:
    """The WMO323 XML of ``provider`` to ``municipality`` for ``month`` (YYYY-MM)."""
    cat = app.catalogues.for_tenant(tenant)
    gemeente, agb = codes(cat, municipality, provider)
    lines = lines_for_month(views, app, tenant, month, provider=provider, municipality=municipality)
    declared = current_debits(views, tenant, provider, municipality, month)
    seen = history_count(views, tenant, provider, municipality, month)
    planned = plan(lines, declared, seen)
    if not planned:
        raise RuleViolation(
            "C-07", f"nothing (new) to declare for {month} by {provider} to {municipality}"
        )
    registry = ClientRegistry(views)
    by_client: dict[str, list[Planned]] = defaultdict(list)
    for p in planned:
        by_client[p.client_ref].append(p)
    clients = [
        Client323(
            bsn=registry.read(tenant, client_ref).bsn,
            prestaties=[_prestatie(p) for p in items],
        )
        for client_ref, items in sorted(by_client.items())
    ]
    total = sum(p.amount_cents * (1 if p.debet_credit == "D" else -1) for p in planned)
    number = "D" + _reference(*(p.reference for p in planned))[1:12]
    first, last = month_bounds(month)
    day = today or date.today()
    message = Wmo323(
        header=Header.new(
            "wmo323", afzender=agb, ontvanger=gemeente, identificatie=number, dagtekening=day
        ),
        declaratie=Declaratie(
            declaratie_nummer=number,
            declaratie_periode=GeslotenPeriode(begindatum=first, einddatum=last),
            declaratie_dagtekening=day,
            totaal_ingediend_bedrag=TotaalBedragMetDC(
                totaal_bedrag=abs(total), debet_credit="D" if total >= 0 else "C"
            ),
            clienten=clients,
        ),
    )
    return codec.encode(message)


def _prestatie(p: Planned) -> Prestatie:
    return Prestatie(
        product_referentie=ProductReferentie(
            referentie_nummer=p.reference, vorig_referentie_nummer=p.previous_reference
        ),
        toewijzing_nummer=p.assignment_number[:20],
        product_categorie=p.category,
        product_code=p.code,
        product_periode=GeslotenPeriode(begindatum=p.period_start, einddatum=p.period_end),
        geleverd_volume=p.volume,
        eenheid=p.unit,
        product_tarief=p.tariff_cents,
        ingediend_bedrag=BedragMetDC(bedrag=p.amount_cents, debet_credit=p.debet_credit),
    )


def declaration_cli(
    app: Any,
    views: Any,
    provider: str,
    municipality: str,
    month: str,
    tenant: str | None = None,
) -> bytes:
    """``caselog iwmo declaration --provider P --municipality M --month YYYY-MM > file.xml``:
    the same message as the GET, on the given store (projections caught up first).
    ``provider`` / ``municipality`` may be caselog ids/names or AGB / gemeentecode."""
    from projections.runner import ProjectionRunner

    ProjectionRunner(app, views).run_until_current()
    tenant, provider, municipality = resolve(app, tenant, provider, municipality)
    return build_declaration(app, views, tenant, provider, municipality, month)


def resolve(app: Any, tenant: str | None, provider: str, municipality: str) -> tuple[str, str, str]:
    """(tenant, provider id, municipality name) from names or iWmo codes."""
    for t in [tenant] if tenant else app.catalogues.tenants:
        cat = app.catalogues.for_tenant(t)
        name = (
            municipality
            if municipality in cat.municipalities
            else cat.municipality_for_code(municipality)
        )
        if name is None:
            continue
        pid = cat.provider_for_agb(provider) or provider
        return t, pid, name
    raise NotMappable(f"municipality {municipality!r} is in no catalogue")
