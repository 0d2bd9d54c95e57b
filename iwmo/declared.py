"""Submitted declarations: a provider's WMO323 recorded and judged line by line.

``record_declaration`` is what the inbound message handler calls for a WMO323 (POST
/v1/iwmo/messages): it judges every Prestatie as the municipality would, with the standard's
retour codes, and records the declaration and all its lines in one transaction, so the month
counts as declared and the next GET of it credits what changed since. These rows are
records of messages received (like the events), not a projection: nothing rebuilds them.

Codes set per line (WJ001): ``9333`` DeclaratieNummer not unique (the whole declaration is
refused, nothing recorded); ``8021`` ReferentieNummer seen before; ``8017`` a credit of a
debit line that is unknown or already credited; ``9019`` the ToewijzingNummer is not the
provider's assignment; ``9384`` the assignment was removed (RedenWijziging 13);
``9307`` / ``9308`` period begins before / ends after the assignment; ``9387`` / ``9388``
the period is not a calendar month (unless the assignment or the care starts / ends in it);
``9321`` delivered volume above the assigned volume; ``9346`` IngediendBedrag is not
GeleverdVolume x ProductTarief. A line without a refusing code gets ``8001`` (granted).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from domain import facts as f
from domain.values import Actor
from iwmo.messages import Prestatie, Wmo323
from projections.consumption import month_bounds, month_key, weekly_minutes

GRANTED = "8001"
_PER_UNIT = {"01": 1, "04": 60, "16": 240}  # minutes per unit of an hour-accounted Eenheid
_COLUMNS = (
    "tenant, provider, referentie_nummer, declaratie_nummer, municipality, month, case_id, "
    "client_ref, assignment_number, product_category, product_code, period_start, period_end, "
    "volume, unit, tariff_cents, amount_cents, debet_credit, previous_reference, accepted, "
    "retour_codes, recorded_at"
)


@dataclass(frozen=True)
class DeclaredLine:
    referentie_nummer: str
    case_id: str | None
    client_ref: str
    assignment_number: str
    product_category: str
    product_code: str
    period_start: date
    period_end: date
    volume: int
    unit: str
    tariff_cents: int
    amount_cents: int

    @property
    def content(self) -> tuple[Any, ...]:
        return (
            self.product_code,
            self.period_start,
            self.period_end,
            self.volume,
            self.unit,
            self.tariff_cents,
            self.amount_cents,
        )


@dataclass(frozen=True)
class LineJudgement:
    path: str  # /Bericht/Declaratie/Clienten/Client[1]/Prestaties/Prestatie[2]
    referentie_nummer: str
    codes: tuple[str, ...]
    amount_cents: int
    debet_credit: str

    @property
    def accepted(self) -> bool:
        return self.codes == (GRANTED,)


@dataclass
class Judgement:
    """The outcome of a submitted WMO323: declaration-level codes and one per line."""

    declaratie_nummer: str
    codes: tuple[str, ...] = ()
    lines: list[LineJudgement] = field(default_factory=list)

    @property
    def granted_cents(self) -> int:
        return sum(
            x.amount_cents * (1 if x.debet_credit == "D" else -1) for x in self.lines if x.accepted
        )


def current_debits(
    views: Any, tenant: str, provider: str, municipality: str, month: str
) -> dict[tuple[str, str], DeclaredLine]:
    """The accepted debit lines of the month not credited since, by (case, assignment)."""
    rows = views.query(
        f"SELECT {_COLUMNS} FROM iwmo_declared_line WHERE tenant = ? AND provider = ? "  # noqa: S608 - fixed columns
        "AND municipality = ? AND month = ? AND accepted = 1 ORDER BY recorded_at",
        (tenant, provider, municipality, month),
    )
    credited = {r[18] for r in rows if r[17] == "C"}
    out: dict[tuple[str, str], DeclaredLine] = {}
    for r in rows:
        if r[17] == "D" and r[2] not in credited:
            out[(r[6] or "", r[8])] = _line(r)
    return out


def history_count(
    views: Any, tenant: str, provider: str, municipality: str, month: str
) -> dict[tuple[str, str], int]:
    """How many lines were ever submitted per (case, assignment) for the month: a seed that
    keeps new ReferentieNummers from repeating old ones."""
    rows = views.query(
        "SELECT case_id, assignment_number, COUNT(*) FROM iwmo_declared_line WHERE tenant = ? "
        "AND provider = ? AND municipality = ? AND month = ? GROUP BY case_id, assignment_number",
        (tenant, provider, municipality, month),
    )
    return {(r[0] or "", r[1]): int(r[2]) for r in rows}


def _line(r: tuple[Any, ...]) -> DeclaredLine:
    return DeclaredLine(
        referentie_nummer=r[2],
        case_id=r[6],
        client_ref=r[7] or "",
        assignment_number=r[8],
        product_category=r[9],
        product_code=r[10],
        period_start=date.fromisoformat(r[11]),
        period_end=date.fromisoformat(r[12]),
        volume=int(r[13]),
        unit=r[14],
        tariff_cents=int(r[15]),
        amount_cents=int(r[16]),
    )


def record_declaration(
    app: Any, views: Any, tenant: str, provider: str, message: Wmo323
) -> Judgement:
    """Judge and record a provider's WMO323 (see the module docstring for the codes).

    ``provider`` is the sender's caselog provider id (its AGB code is the Afzender). Nothing
    is recorded when the DeclaratieNummer was used before (9333)."""
    d = message.declaratie
    cat = app.catalogues.for_tenant(tenant)
    municipality = cat.municipality_for_code(message.header.ontvanger) or message.header.ontvanger
    judgement = Judgement(declaratie_nummer=d.declaratie_nummer)
    used = views.query(
        "SELECT identificatie FROM iwmo_declaration "
        "WHERE tenant = ? AND provider = ? AND declaratie_nummer = ?",
        (tenant, provider, d.declaratie_nummer),
    )
    if used and used[0][0] == message.identificatie:
        return _judged_before(views, tenant, provider, message)
    if used:
        judgement.codes = ("9333",)
        return judgement
    month = month_key(d.declaratie_periode.begindatum)
    known = {
        r[0]: (r[1], r[2])
        for r in views.query(
            "SELECT referentie_nummer, debet_credit, accepted FROM iwmo_declared_line "
            "WHERE tenant = ? AND provider = ?",
            (tenant, provider),
        )
    }
    credited = {
        r[0]
        for r in views.query(
            "SELECT previous_reference FROM iwmo_declared_line WHERE tenant = ? AND provider = ? "
            "AND debet_credit = 'C' AND accepted = 1",
            (tenant, provider),
        )
    }
    cases = _Cases(app, views, tenant, provider)
    now = datetime.now(UTC).isoformat()
    rows = []
    in_message: set[str] = set()
    for ci, client in enumerate(d.clienten, start=1):
        for pi, p in enumerate(client.prestaties, start=1):
            ref = p.product_referentie.referentie_nummer
            found = cases.find(p.toewijzing_nummer)
            codes = _judge(p, found, known, credited, in_message)
            in_message.add(ref)
            if p.ingediend_bedrag.debet_credit == "C" and not codes:
                credited.add(p.product_referentie.vorig_referentie_nummer or "")
            codes = codes or (GRANTED,)
            path = f"/Bericht/Declaratie/Clienten/Client[{ci}]/Prestaties/Prestatie[{pi}]"
            judgement.lines.append(
                LineJudgement(
                    path=path,
                    referentie_nummer=ref,
                    codes=codes,
                    amount_cents=p.ingediend_bedrag.bedrag,
                    debet_credit=p.ingediend_bedrag.debet_credit,
                )
            )
            state = found[0] if found else None
            rows.append(
                (
                    tenant,
                    provider,
                    ref,
                    d.declaratie_nummer,
                    municipality,
                    month_key(p.product_periode.begindatum),
                    found[2] if found else None,
                    state.client_ref if state else None,
                    p.toewijzing_nummer,
                    p.product_categorie,
                    p.product_code,
                    p.product_periode.begindatum.isoformat(),
                    p.product_periode.einddatum.isoformat(),
                    p.geleverd_volume,
                    p.eenheid,
                    p.product_tarief or 0,
                    p.ingediend_bedrag.bedrag,
                    p.ingediend_bedrag.debet_credit,
                    p.product_referentie.vorig_referentie_nummer,
                    1 if codes == (GRANTED,) else 0,
                    ",".join(codes),
                    now,
                )
            )
    unique = {r[2]: r for r in rows}  # a reference repeated inside the message: keep the first
    with views.transaction() as cur:
        cur.execute(
            views.sql(
                "INSERT INTO iwmo_declaration (tenant, provider, declaratie_nummer, municipality, "
                "month, identificatie, total_cents, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (
                tenant,
                provider,
                d.declaratie_nummer,
                municipality,
                month,
                message.identificatie,
                d.totaal_ingediend_bedrag.totaal_bedrag,
                now,
            ),
        )
        fresh = [r for ref, r in unique.items() if ref not in known]
        if fresh:
            marks = ", ".join("?" * len(fresh[0]))
            cur.executemany(
                views.sql(f"INSERT INTO iwmo_declared_line ({_COLUMNS}) VALUES ({marks})"),  # noqa: S608
                fresh,
            )
    return judgement


def _judged_before(views: Any, tenant: str, provider: str, message: Wmo323) -> Judgement:
    """The judgement this very message (same sender, same Identificatie) got when it was
    recorded: a resend after a crash that lost the answer is answered the same way and
    records nothing again. A line recorded then carries its codes; a line that was not
    recorded had a reference seen before (8021)."""
    d = message.declaratie
    stored = {
        r[0]: (tuple(str(r[1]).split(",")), r[2], r[3])
        for r in views.query(
            "SELECT referentie_nummer, retour_codes, amount_cents, debet_credit "
            "FROM iwmo_declared_line WHERE tenant = ? AND provider = ? AND declaratie_nummer = ?",
            (tenant, provider, d.declaratie_nummer),
        )
    }
    judgement = Judgement(declaratie_nummer=d.declaratie_nummer)
    replayed: set[str] = set()
    for ci, client in enumerate(d.clienten, start=1):
        for pi, p in enumerate(client.prestaties, start=1):
            ref = p.product_referentie.referentie_nummer
            codes = stored[ref][0] if ref in stored and ref not in replayed else ("8021",)
            replayed.add(ref)
            judgement.lines.append(
                LineJudgement(
                    path=f"/Bericht/Declaratie/Clienten/Client[{ci}]/Prestaties/Prestatie[{pi}]",
                    referentie_nummer=ref,
                    codes=codes,
                    amount_cents=p.ingediend_bedrag.bedrag,
                    debet_credit=p.ingediend_bedrag.debet_credit,
                )
            )
    return judgement


class _Cases:
    """Assignments by ToewijzingNummer among the provider's cases (entitlement read model,
    then earlier declarations for an assignment removed since)."""

    def __init__(self, app: Any, views: Any, tenant: str, provider: str) -> None:
        self.app, self.views, self.tenant, self.provider = app, views, tenant, provider
        self._memo: dict[str, Any] = {}

    def find(self, number: str) -> tuple[Any, Any, str] | None:
        """(case state, assignment or None when removed, case id), or None when unknown."""
        if number in self._memo:
            return self._memo[number]  # type: ignore[no-any-return]
        rows = self.views.query(
            "SELECT DISTINCT case_id FROM entitlement WHERE tenant = ? AND provider = ? "
            "AND assignment_number = ?",
            (self.tenant, self.provider, number),
        ) or self.views.query(
            "SELECT DISTINCT case_id FROM iwmo_declared_line WHERE tenant = ? AND provider = ? "
            "AND assignment_number = ? AND case_id IS NOT NULL",
            (self.tenant, self.provider, number),
        )
        found = None
        if rows:
            system = Actor(sub="iwmo-declaration", role="system", tenant=self.tenant)
            case = self.app.get_case(UUID(rows[0][0]), system)
            a = next((x for x in case.state.assignments if x.assignment_number == number), None)
            removed = any(
                e.retracted
                and isinstance(e.fact, f.Indication)
                and e.fact.assignment_number == number
                for e in case.entries
            )
            if a is not None or removed:
                found = (case.state, a, rows[0][0])
        self._memo[number] = found
        return found


def _judge(
    p: Prestatie,
    found: tuple[Any, Any, str] | None,
    known: dict[str, tuple[str, int]],
    credited: set[str],
    in_message: set[str],
) -> tuple[str, ...]:
    codes: list[str] = []
    ref = p.product_referentie
    if ref.referentie_nummer in known or ref.referentie_nummer in in_message:
        codes.append("8021")
    if p.ingediend_bedrag.debet_credit == "C":
        prev = known.get(ref.vorig_referentie_nummer or "")
        if prev is None or prev != ("D", 1) or ref.vorig_referentie_nummer in credited:
            codes.append("8017")
    if (p.product_tarief or 0) * p.geleverd_volume != p.ingediend_bedrag.bedrag:
        codes.append("9346")
    if found is None:
        return (*codes, "9019")
    state, a, _ = found
    if a is None:
        return (*codes, "9384")
    begin, end = p.product_periode.begindatum, p.product_periode.einddatum
    if begin < a.starts_on:
        codes.append("9307")
    if end > a.until:
        codes.append("9308")
    first, last = month_bounds(month_key(begin))
    if begin != first and begin not in (a.starts_on, state.started_on):
        codes.append("9387")
    outside = end != last and end not in (a.until, state.ended_on)
    if outside or month_key(end) != month_key(begin):
        codes.append("9388")
    per = _PER_UNIT.get(p.eenheid)
    if per is not None and p.ingediend_bedrag.debet_credit == "D":
        days = (min(end, a.until) - max(begin, a.starts_on)).days + 1
        allowed = math.ceil(weekly_minutes(a) * max(days, 0) / 7 / per)
        if p.geleverd_volume > max(1, allowed):
            codes.append("9321")
    return tuple(codes)


def declared_months(views: Any, tenant: str, provider: str) -> dict[str, list[str]]:
    """Declaration numbers per month (for reads and the CLI)."""
    out: dict[str, list[str]] = defaultdict(list)
    for month, number in views.query(
        "SELECT month, declaratie_nummer FROM iwmo_declaration WHERE tenant = ? AND provider = ? "
        "ORDER BY recorded_at",
        (tenant, provider),
    ):
        out[month].append(number)
    return dict(out)
