"""Outgoing iWmo messages: the XML of an outbox row, built from the case as it was recorded.

A row of ``projections.outbox`` names a fact (case + version) and the message it implies.
The message is built when it is read, from the case at that version (what was known when
the fact was recorded), the catalogue's mapping codes (gemeentecode, AGB, product code) and
the client's identity from the encrypted registry. An erased client's message cannot be
built (``ClientErased``, HTTP 410), an unregistered client's neither (``ClientNotFound``):
caselog never sends a message with blanks where the BSN belongs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from application.registry import ClientRegistry, Identity
from domain import facts as f
from domain.catalogue import Catalogue
from domain.errors import CaseNotFound, RuleViolation
from domain.state import Assignment, CaseState
from domain.values import Actor, Volume
from iwmo import codec
from iwmo.messages import (
    AangevraagdProduct,
    Antwoord,
    Client301,
    Client305,
    Client307,
    Client315,
    Client317,
    Contact,
    Geboortedatum,
    Header,
    Naam,
    NieuwProduct,
    Omvang,
    Product,
    StartProduct,
    StopProduct,
    TeWijzigenProduct,
    ToegewezenProduct,
    VerkorteNaam,
    Verwijzer,
    Verzoek,
    VolledigeNaam,
    Wmo301,
    Wmo305,
    Wmo307,
    Wmo315,
    Wmo317,
    Wmo319,
)
from projections.outbox import OutboxRow

EENHEID = {
    "minute": "01",
    "hour": "04",
    "day_part": "16",
    "piece_output": "82",
    "euro": "83",
    "piece_effort": "84",
}
#: WMO757; the 2016 four-week period has no iWmo frequency: sent as per month (docs).
FREQUENTIE = {"day": "1", "week": "2", "month": "4", "four_weeks": "4", "total": "6"}


class NotMappable(RuleViolation):
    """The catalogue lacks a code the message needs (gemeentecode, AGB, product code)."""

    def __init__(self, detail: str) -> None:
        super().__init__("C-03", detail)


def codes(cat: Catalogue, municipality: str, provider: str) -> tuple[str, str]:
    gemeente, agb = cat.gemeentecode(municipality), cat.agb(provider)
    if gemeente is None:
        raise NotMappable(f"municipality {municipality!r} has no gemeentecode in the catalogue")
    if agb is None:
        raise NotMappable(f"provider {provider!r} has no AGB code in the catalogue")
    return gemeente, agb


def product(cat: Catalogue, code: str) -> Product:
    p = cat.product_any(code)
    if p is None or p.iwmo is None:
        raise NotMappable(f"product {code!r} has no iWmo code in the catalogue")
    return Product(categorie=p.iwmo.category, code=p.iwmo.code)


def omvang(volume: Volume) -> Omvang:
    """Omvang in whole units: a fractional amount of hours is sent in minutes."""
    amount, unit = volume.amount, volume.unit
    if amount != amount.to_integral_value() and unit == "hour":
        amount, unit = amount * 60, "minute"
    return Omvang(
        volume=max(1, int(amount.to_integral_value())),
        eenheid=EENHEID[unit],
        frequentie=FREQUENTIE[volume.frequency],
    )


def identity(registry: ClientRegistry, tenant: str, client_ref: str) -> Identity:
    """The client's identity; raises ClientErased (410) / ClientNotFound."""
    return registry.read(tenant, client_ref)


def short_name(who: Identity) -> VerkorteNaam:
    return VerkorteNaam(achternaam=who.name[:200])


def birth(who: Identity) -> Geboortedatum:
    return Geboortedatum(datum=who.birth_date)


def message_id(position: int) -> str:
    """A unique BerichtIdentificatie per outbox row (12 characters)."""
    return f"CL{position:010d}"


def _header(kind: str, row: OutboxRow, afzender: str, ontvanger: str) -> Header:
    day = datetime.fromisoformat(row.recorded_at.replace("Z", "+00:00")).date()
    return Header.new(
        kind,
        afzender=afzender,
        ontvanger=ontvanger,
        identificatie=message_id(row.position),
        dagtekening=day,
    )


def build(app: Any, registry: ClientRegistry, row: OutboxRow) -> bytes:
    """The XML of one outbox row (validated against the schema by the encoder)."""
    system = Actor(sub="iwmo-outbox", role="system", tenant=row.tenant)
    case = app.get_case(UUID(row.case_id), system, version=row.version)
    cat = app.catalogues.for_tenant(row.tenant)
    s: CaseState = case.state
    gemeente, agb = codes(cat, s.municipality, s.provider)
    who = identity(registry, s.tenant, s.client_ref)
    entry = case.entry(row.version) if row.version > 1 else None
    fact = entry.fact if entry else None
    if row.code == "WMO301":
        previous = app.get_case(UUID(row.case_id), system, version=row.version - 1).state
        message: Any = Wmo301(
            header=_header("wmo301", row, gemeente, agb),
            client=Client301(
                bsn=who.bsn,
                geboortedatum=birth(who),
                geslacht="0",
                naam=VolledigeNaam(geslachtsnaam=Naam(achternaam=who.name[:200])),
                contactgegevens=[Contact(soort="01")],
                toegewezen_producten=[
                    *assigned(cat, s, previous, fact, row),
                    *_other_cases(app, registry.views, s, row, cat, _business_date(s, fact)),
                ],
            ),
        )
    elif row.code == "WMO319":
        assert isinstance(fact, f.ChangeDecision)
        message = Wmo319(
            header=_header("wmo319", row, gemeente, agb),
            antwoord=Antwoord(
                referentie_aanbieder=fact.request_id[:20],
                verzoek_antwoord="1",
                reden_afwijzing_verzoek="01",
            ),
        )
    elif row.code in ("WMO305", "WMO307"):
        message = _start_stop(cat, s, case, fact, row, who, gemeente, agb)
    elif row.code == "WMO315":
        message = Wmo315(
            header=_header("wmo315", row, agb, gemeente),
            client=Client315(
                bsn=who.bsn,
                geboortedatum=birth(who),
                geslacht="0",
                naam=short_name(who),
                aangevraagde_producten=[
                    AangevraagdProduct(
                        referentie_aanbieder=row.case_id.replace("-", "")[:20],
                        toewijzing_ingangsdatum=s.referred_on,
                        verwijzer=Verwijzer(type="06"),
                    )
                ],
            ),
        )
    elif row.code == "WMO317":
        assert isinstance(fact, f.ChangeRequest)
        message = _change_request(cat, s, fact, row, who, gemeente, agb)
    else:
        raise ValueError(f"no builder for {row.code}")
    return codec.encode(message)


def assigned(
    cat: Catalogue,
    state: CaseState,
    previous: CaseState | None,
    fact: Any,
    row: OutboxRow,
) -> list[ToegewezenProduct]:
    """All current assignments (iWmo: the 301 carries every current assignment of the client
    with the provider), plus those this fact ended, withdrew or removed."""
    recorded = datetime.fromisoformat(row.recorded_at.replace("Z", "+00:00"))
    at = recorded.astimezone(UTC).time().replace(microsecond=0)
    day = _business_date(state, fact)
    before = {a.assignment_number: a for a in (previous.assignments if previous else ())}
    now = {a.assignment_number: a for a in state.assignments}
    out: list[ToegewezenProduct] = []
    ended_on = state.ended_on
    for number, a in now.items():
        old = before.get(number)
        changed = old is None or old != a
        until = min(a.until, ended_on) if ended_on else a.until
        if until < day - timedelta(days=1) and not changed and not isinstance(fact, f.End):
            continue
        reason = None
        if old is not None and changed:
            if isinstance(fact, f.Correction):
                reason = "14"
            elif a.ends_on > old.ends_on:
                reason = "04"
            else:
                reason = "05"
        elif isinstance(fact, f.End):
            reason = "01"
        out.append(_toegewezen(cat, a, until, reason, at))
    for number, a in before.items():  # removed by a retraction: end = start (RedenWijziging 13)
        if number not in now:
            out.append(_toegewezen(cat, a, a.starts_on, "13", at))
    if not out:
        raise RuleViolation("C-07", "no assignment to send")
    return out


def _business_date(state: CaseState, fact: Any) -> date:
    """The date the decision is about: assignments ended before it are no longer current."""
    if isinstance(fact, f.Correction):
        fact = fact.replacement
    if isinstance(fact, f.Fact):
        return fact.business_date()
    return state.referred_on


def _other_cases(
    app: Any, views: Any, s: CaseState, row: OutboxRow, cat: Catalogue, on: date
) -> list[ToegewezenProduct]:
    """The client's current assignments with the same provider on its other cases, as they
    were recorded at this fact's instant (the 301 carries all of them)."""
    recorded = datetime.fromisoformat(row.recorded_at.replace("Z", "+00:00"))
    at = recorded.astimezone(UTC).time().replace(microsecond=0)
    others = views.query(
        "SELECT case_id FROM case_summary WHERE tenant = ? AND client_ref = ? AND provider = ? "
        "AND case_id <> ? AND first_recorded_at <= ? ORDER BY case_id",
        (s.tenant, s.client_ref, s.provider, row.case_id, row.recorded_at),
    )
    system = Actor(sub="iwmo-outbox", role="system", tenant=row.tenant)
    out = []
    for (case_id,) in others:
        try:
            other = app.get_case(UUID(case_id), system, as_of=recorded).state
        except CaseNotFound:
            continue
        for a in other.assignments:
            until = min(a.until, other.ended_on) if other.ended_on else a.until
            if until >= on:
                out.append(_toegewezen(cat, a, until, None, at))
    return out


def _toegewezen(
    cat: Catalogue, a: Assignment, until: date, reason: str | None, at: time
) -> ToegewezenProduct:
    return ToegewezenProduct(
        toewijzing_nummer=a.assignment_number[:20],
        product=product(cat, a.product),
        toewijzingsdatum=a.decided_on or a.starts_on,
        toewijzingstijd=at,
        ingangsdatum=a.starts_on,
        einddatum=max(until, a.starts_on),
        reden_wijziging=reason,
        omvang=omvang(a.volume) if a.volume.amount > 0 else None,
    )


def _start_stop(
    cat: Catalogue,
    s: CaseState,
    case: Any,
    fact: Any,
    row: OutboxRow,
    who: Identity,
    gemeente: str,
    agb: str,
) -> Wmo305 | Wmo307:
    """A start (305) or stop (307); a retraction or correction first withdraws the earlier
    message's product (StatusAanlevering 3), a correction then sends the new one."""
    withdrawn: Any = None
    if isinstance(fact, f.Retraction | f.Correction):
        target = case.entry(fact.event_version)
        withdrawn = target.fact
        fact = fact.replacement if isinstance(fact, f.Correction) else None
    started_on = s.started_on
    parts: list[tuple[Any, str]] = []
    if withdrawn is not None:
        parts.append((withdrawn, "3"))
    if fact is not None:
        parts.append((fact, "1"))
    if row.code == "WMO305":
        items = []
        for start, status in parts:
            a = s.assignment_on(start.started_on) or s.current
            if a is None:
                raise RuleViolation("R-20", "no assignment for the start")
            items.append(
                StartProduct(
                    toewijzing_nummer=a.assignment_number[:20],
                    product=product(cat, a.product),
                    toewijzing_ingangsdatum=a.starts_on,
                    begindatum=start.started_on,
                    status_aanlevering=status,
                )
            )
        return Wmo305(
            header=_header("wmo305", row, agb, gemeente),
            client=Client305(
                bsn=who.bsn,
                geboortedatum=birth(who),
                geslacht="0",
                naam=short_name(who),
                start_producten=items,
            ),
        )
    stops = []
    for end, status in parts:
        a = (
            s.assignment_on(end.ended_on)
            or s.current
            or (s.assignments[-1] if s.assignments else None)
        )
        if a is None:
            raise RuleViolation("C-07", "no assignment for the stop")
        stops.append(
            StopProduct(
                toewijzing_nummer=a.assignment_number[:20],
                product=product(cat, a.product),
                toewijzing_ingangsdatum=a.starts_on,
                begindatum=max(started_on or a.starts_on, a.starts_on),
                reden_beeindiging=end.reason,
                einddatum=end.ended_on,
                status_aanlevering=status,
            )
        )
    return Wmo307(
        header=_header("wmo307", row, agb, gemeente),
        client=Client307(
            bsn=who.bsn,
            geboortedatum=birth(who),
            geslacht="0",
            naam=short_name(who),
            stop_producten=stops,
        ),
    )


def _change_request(
    cat: Catalogue,
    s: CaseState,
    fact: f.ChangeRequest,
    row: OutboxRow,
    who: Identity,
    gemeente: str,
    agb: str,
) -> Wmo317:
    """The provider's change request: the current assignment to change (extension, volume)
    or, for another product, the current one ended and a new product asked for."""
    current = s.current
    if current is None:
        raise RuleViolation("C-07", "no current assignment to change")
    volume = fact.volume or current.volume
    new_product = fact.product and fact.product != current.product
    te_wijzigen = [
        TeWijzigenProduct(
            toewijzing_nummer=current.assignment_number[:20],
            gewenste_ingangsdatum=fact.effective_on,
            einddatum=(fact.effective_on - timedelta(days=1))
            if new_product
            else (fact.ends_on or current.ends_on),
            omvang=None if new_product else omvang(volume),
        )
    ]
    nieuw = (
        [
            NieuwProduct(
                product=product(cat, fact.product or current.product),
                gewenste_ingangsdatum=fact.effective_on,
                einddatum=fact.ends_on or current.ends_on,
                omvang=omvang(volume),
            )
        ]
        if new_product
        else None
    )
    return Wmo317(
        header=_header("wmo317", row, agb, gemeente),
        client=Client317(
            bsn=who.bsn,
            verzoek=Verzoek(
                referentie_aanbieder=fact.request_id[:20],
                reden_verzoek="02" if fact.kind == "extension" else "01",
                te_wijzigen_producten=te_wijzigen,
                nieuwe_producten=nieuw,
            ),
        ),
    )


def amount_cents(value: Decimal) -> int:
    return int((value * 100).to_integral_value())
