"""The WMO323: built from the declaration lines, recorded when submitted, credited when a
declared month changes, each line judged with the standard's codes (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from uuid import UUID

import msgspec
import pytest

from application.application import CaseLog
from application.registry import ClientErased, ClientRegistry, Identity
from application.settings import catalogues_in
from domain import facts as f
from domain.errors import RuleViolation
from iwmo import codec
from iwmo.declaration import build_declaration
from iwmo.declared import record_declaration
from iwmo.messages import Wmo323
from projections.runner import ProjectionRunner
from storage.config import store_config
from storage.views import ViewStore
from tests.builders import contact, indication, municipality, pieces, provider, referral

FEB = "2024-02"
TODAY = date(2024, 3, 5)


class World:
    def __init__(self, app: CaseLog) -> None:
        self.app = app
        self.views = ViewStore(app.store)
        self.runner = ProjectionRunner(app, self.views)
        self.registry = ClientRegistry(self.views)

    def zou_case(self, ref: str, number: str) -> UUID:
        self.registry.register(
            "zou", ref, Identity(bsn="999990019", name="Jansen", birth_date=date(1980, 1, 1))
        )
        cid, _ = self.app.open_case(municipality(), referral(client_ref=ref))
        self.app.record(cid, municipality(), indication(number=number))
        self.app.record(cid, provider(), f.CareStart(started_on=date(2024, 1, 20)))
        return cid

    def declaration(self, month: str = FEB, tenant="zou", who="aanbieder-a", town="Houten"):
        self.runner.run_until_current()
        xml = build_declaration(self.app, self.views, tenant, who, town, month, today=TODAY)
        message = codec.decode(xml)  # every emitted message passes the schema walk
        assert isinstance(message, Wmo323)
        return message

    def submit(self, message: Wmo323, tenant="zou", who="aanbieder-a"):
        return record_declaration(self.app, self.views, tenant, who, message)


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    """An application whose catalogues carry the invented demo tariffs (ZOU names no
    hourly rates), as ``CASELOG_EXAMPLE_TARIFFS=1`` gives it."""
    examples = catalogues_in(None, example_tariffs=True)
    app = CaseLog(store=store_config(database_url), catalogues=examples)
    try:
        yield World(app)
    finally:
        app.close()


def prestaties(message: Wmo323):
    return [p for c in message.declaratie.clienten for p in c.prestaties]


def test_wmo323_declares_rounded_hours_in_eurocents_IV079(world: World) -> None:
    # given 100 and 20 minutes in February on two cases at the example tariff of 90.00 / hour
    a, b = world.zou_case("c-1", "TW-1"), world.zou_case("c-2", "TW-2")
    world.app.record(a, provider(), contact(date(2024, 2, 1), minutes=100))
    world.app.record(b, provider(), contact(date(2024, 2, 2), minutes=20))
    # when the WMO323 is built
    message = world.declaration()
    # then hours are rounded on the period total (100 min -> 2, 20 min -> 1 minimum)
    lines = {p.toewijzing_nummer: p for p in prestaties(message)}
    assert (lines["TW-1"].geleverd_volume, lines["TW-1"].eenheid) == (2, "04")
    assert lines["TW-2"].geleverd_volume == 1
    assert lines["TW-1"].product_tarief == 9000
    assert lines["TW-1"].ingediend_bedrag.bedrag == 18000
    assert lines["TW-1"].ingediend_bedrag.debet_credit == "D"
    assert (lines["TW-1"].product_categorie, lines["TW-1"].product_code) == ("02", "02A05")
    period = lines["TW-1"].product_periode
    assert (period.begindatum, period.einddatum) == (date(2024, 2, 1), date(2024, 2, 29))
    total = message.declaratie.totaal_ingediend_bedrag
    assert (total.totaal_bedrag, total.debet_credit) == (27000, "D")
    refs = [p.product_referentie.referentie_nummer for p in prestaties(message)]
    assert len(set(refs)) == len(refs)
    assert message.header.afzender == "98000001"
    assert message.header.ontvanger == "0321"


def test_building_twice_gives_the_same_message_and_changes_nothing(world: World) -> None:
    cid = world.zou_case("c-3", "TW-3")
    world.app.record(cid, provider(), contact(date(2024, 2, 1), minutes=60))
    assert world.declaration() == world.declaration()


def test_without_a_price_the_declaration_cannot_be_built_C03(
    store: CaseLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CASELOG_EXAMPLE_TARIFFS", raising=False)
    w = World(store)
    cid = w.zou_case("c-4", "TW-4")
    w.app.record(cid, provider(), contact(date(2024, 2, 1), minutes=60))
    with pytest.raises(RuleViolation) as refused:
        w.declaration()
    assert refused.value.rule == "C-03"
    assert "no price" in str(refused.value)


def test_a_submitted_month_is_declared_and_a_late_contact_gives_credit_and_debit(
    world: World,
) -> None:
    # given February declared and accepted
    cid = world.zou_case("c-5", "TW-5")
    world.app.record(cid, provider(), contact(date(2024, 2, 1), minutes=60))
    first = world.declaration()
    judged = world.submit(first)
    assert [x.codes for x in judged.lines] == [("8001",)]
    assert judged.granted_cents == 9000
    # then nothing new is left to declare
    with pytest.raises(RuleViolation) as nothing:
        world.declaration()
    assert nothing.value.rule == "C-07"
    # when a late contact for February is recorded
    world.app.record(cid, provider(), contact(date(2024, 2, 20), minutes=90))
    second = world.declaration()
    # then the old line is credited and a new debit line declared, with new numbers
    old = prestaties(first)[0]
    credit, debit = prestaties(second)
    assert credit.ingediend_bedrag.debet_credit == "C"
    assert (
        credit.product_referentie.vorig_referentie_nummer
        == old.product_referentie.referentie_nummer
    )
    assert credit.ingediend_bedrag.bedrag == old.ingediend_bedrag.bedrag
    assert (debit.ingediend_bedrag.debet_credit, debit.geleverd_volume) == ("D", 3)
    assert debit.product_referentie.referentie_nummer != old.product_referentie.referentie_nummer
    assert second.declaratie.declaratie_nummer != first.declaratie.declaratie_nummer
    assert second.declaratie.totaal_ingediend_bedrag.totaal_bedrag == 27000 - 9000
    assert [x.codes for x in world.submit(second).lines] == [("8001",), ("8001",)]
    # and another message with the same DeclaratieNummer is refused as a whole (9333)
    ident = msgspec.structs.replace(
        second.header.bericht_identificatie, identificatie=second.identificatie + "-2"
    )
    other = msgspec.structs.replace(
        second, header=msgspec.structs.replace(second.header, bericht_identificatie=ident)
    )
    assert world.submit(other).codes == ("9333",)


def test_a_resent_declaration_gets_its_first_answer_and_records_nothing_again(
    world: World,
) -> None:
    # given February declared and judged
    cid = world.zou_case("c-9", "TW-9")
    world.app.record(cid, provider(), contact(date(2024, 2, 1), minutes=60))
    message = world.declaration()
    first = world.submit(message)
    lines = world.views.query("SELECT COUNT(*) FROM iwmo_declared_line", ())[0][0]
    # when the same message is resent (its answer was lost in a crash)
    again = world.submit(message)
    # then it is answered as the first time, and nothing is recorded twice
    assert again.codes == first.codes == ()
    assert [(x.path, x.codes) for x in again.lines] == [(x.path, x.codes) for x in first.lines]
    assert again.granted_cents == first.granted_cents
    assert world.views.query("SELECT COUNT(*) FROM iwmo_declared_line", ())[0][0] == lines


def test_a_retracted_contact_credits_the_declared_line_alone(world: World) -> None:
    cid = world.zou_case("c-6", "TW-6")
    version = world.app.record(cid, provider(), contact(date(2024, 2, 1), minutes=60))
    world.submit(world.declaration())
    world.app.retract_event(cid, provider(), f.Retraction(event_version=version, reason="fout"))
    (credit,) = prestaties(world.declaration())
    assert credit.ingediend_bedrag.debet_credit == "C"


def _tampered(message: Wmo323, **changes) -> Wmo323:
    p = prestaties(message)[0]
    client = message.declaratie.clienten[0]
    client = msgspec.structs.replace(client, prestaties=[msgspec.structs.replace(p, **changes)])
    d = msgspec.structs.replace(message.declaratie, clienten=[client], declaratie_nummer="X1")
    return msgspec.structs.replace(message, declaratie=d)


def test_each_line_is_judged_with_the_standards_codes(world: World) -> None:
    from iwmo.messages import BedragMetDC, GeslotenPeriode, ProductReferentie

    cid = world.zou_case("c-7", "TW-7")
    world.app.record(cid, provider(), contact(date(2024, 2, 1), minutes=60))
    good = world.declaration()

    numbers = iter(range(1, 100))

    def codes(**changes) -> tuple[str, ...]:
        n = next(numbers)
        changes.setdefault("product_referentie", ProductReferentie(referentie_nummer=f"T{n}"))
        message = _tampered(good, **changes)
        message = msgspec.structs.replace(
            message,
            declaratie=msgspec.structs.replace(message.declaratie, declaratie_nummer=f"T{n}"),
        )
        (line,) = world.submit(message).lines
        return line.codes

    assert codes(ingediend_bedrag=BedragMetDC(bedrag=1, debet_credit="D")) == ("9346",)
    assert codes(toewijzing_nummer="NIET-BEKEND") == ("9019",)
    assert "9387" in codes(
        product_periode=GeslotenPeriode(begindatum=date(2024, 2, 3), einddatum=date(2024, 2, 29))
    )
    assert "9308" in codes(
        product_periode=GeslotenPeriode(begindatum=date(2025, 1, 1), einddatum=date(2025, 1, 31))
    )
    assert "9307" in codes(
        product_periode=GeslotenPeriode(begindatum=date(2024, 1, 1), einddatum=date(2024, 1, 31))
    )
    assert codes(
        geleverd_volume=500, ingediend_bedrag=BedragMetDC(bedrag=500 * 9000, debet_credit="D")
    ) == ("9321",)
    assert "8017" in codes(
        product_referentie=ProductReferentie(
            referentie_nummer="CREDIT1", vorig_referentie_nummer="NOOIT"
        ),
        ingediend_bedrag=BedragMetDC(bedrag=9000, debet_credit="C"),
    )
    # a reference used before: 8021
    world.submit(good)
    again = msgspec.structs.replace(
        good,
        declaratie=msgspec.structs.replace(good.declaratie, declaratie_nummer="OTHER1"),
    )
    assert "8021" in world.submit(again).lines[0].codes


def test_a_removed_assignment_cannot_be_declared_9384(world: World) -> None:
    cid = world.zou_case("c-8", "TW-8")
    world.app.record(cid, provider(), contact(date(2024, 2, 1), minutes=60))
    good = world.declaration()
    world.submit(good)
    # the municipality retracts the indication (and what depends on it is retracted first)
    history = world.app.get_case(cid, municipality())
    for e in reversed(history.entries):
        if e.role == "provider":
            world.app.retract_event(
                cid, provider(), f.Retraction(event_version=e.version, reason="x")
            )
    world.app.retract_event(
        cid, municipality(), f.Retraction(event_version=2, reason="ingetrokken")
    )
    redo = _tampered(
        good,
        product_referentie=prestaties(good)[0].product_referentie.__class__(
            referentie_nummer="NEW9384"
        ),
    )
    assert world.submit(redo).lines[0].codes == ("9384",)


def test_sdd_result_financing_declares_the_period_price_R02(store: CaseLog) -> None:
    w = World(store)
    sdd_m, sdd_p = municipality("drechtsteden"), provider("drechtsteden", "sdd-aanbieder-1")
    w.registry.register(
        "drechtsteden",
        "s-1",
        Identity(bsn="999990019", name="Pietersen", birth_date=date(1970, 5, 5)),
    )
    cid, _ = w.app.open_case(
        sdd_m,
        referral(
            "drechtsteden", on=date(2015, 12, 1), client_ref="s-1", provider="sdd-aanbieder-1"
        ),
    )
    w.app.record(
        cid,
        sdd_m,
        indication(
            "IB2", date(2016, 1, 4), date(2016, 12, 31), pieces(1, "four_weeks"), number="SDD-1"
        ),
    )
    w.app.record(cid, sdd_p, f.CareStart(started_on=date(2016, 1, 4)))
    w.app.record(cid, sdd_p, contact(date(2016, 3, 10), minutes=60))
    message = w.declaration("2016-02", "drechtsteden", "sdd-aanbieder-1", "Dordrecht")
    (line,) = prestaties(message)
    # two 4-week periods from 4 January start in February 2016 (1 and 29 Feb), 732.16 each
    assert (line.geleverd_volume, line.eenheid, line.product_tarief) == (2, "82", 73216)
    assert line.ingediend_bedrag.bedrag == 2 * 73216
    assert line.product_code == "02Z02"  # the example code of IB2


def test_an_erased_clients_declaration_cannot_be_built_410(world: World) -> None:
    cid = world.zou_case("c-9", "TW-9")
    world.app.record(cid, provider(), contact(date(2024, 2, 1), minutes=60))
    world.registry.erase("zou", "c-9", by="test")
    with pytest.raises(ClientErased):
        world.declaration()


def test_the_cli_function_prints_the_same_wmo323_as_the_read(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iwmo.declaration import declaration_cli

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CASELOG_DATABASE_URL", url)
    monkeypatch.setenv("CASELOG_EXAMPLE_TARIFFS", "1")
    app = CaseLog(store=store_config(url))
    views = ViewStore(app.store)
    try:
        w = World(app)
        cid = w.zou_case("c-10", "TW-10")
        w.app.record(cid, provider(), contact(date(2024, 2, 1), minutes=60))
        expected = prestaties(w.declaration())
        # by iWmo codes: the provider's AGB and the gemeentecode of Houten
        printed = codec.decode(declaration_cli(app, views, "98000001", "0321", FEB))
    finally:
        views.close()
        app.close()
    assert prestaties(printed) == expected
