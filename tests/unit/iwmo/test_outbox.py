"""The outbox: which fact feeds which party, exactly once per fact, equal after a rebuild,
and every message caselog emits passes the schema (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest

from application.application import CaseLog
from application.demo import generate
from application.registry import ClientRegistry, Identity
from domain import facts as f
from iwmo import codec
from iwmo.outbox import build
from projections.outbox import OutboxProjection, feed, message_for
from projections.runner import ProjectionRunner
from storage.views import ViewStore

RELEVANT = {"WMO301", "WMO319", "WMO305", "WMO307", "WMO315", "WMO317"}


@pytest.mark.parametrize(
    ("event", "role", "expected"),
    [
        ("IndicationGranted", "municipality", ("WMO301", "provider")),
        ("ScaleChanged", "municipality", ("WMO301", "provider")),
        ("IndicationExtended", "municipality", ("WMO301", "provider")),
        ("CaseEnded", "municipality", ("WMO301", "provider")),
        ("CareStarted", "provider", ("WMO305", "municipality")),
        ("CaseEnded", "provider", ("WMO307", "municipality")),
        ("ChangeRequested", "provider", ("WMO317", "municipality")),
        ("CaseOpened", "provider", ("WMO315", "municipality")),
        ("CaseOpened", "municipality", None),
        ("ContactRecorded", "provider", None),
        ("EvaluationRecorded", "provider", None),
    ],
)
def test_a_fact_feeds_the_other_party(event: str, role: str, expected: tuple | None) -> None:
    assert message_for(event, role, None) == expected


def test_a_refused_change_request_is_a_wmo319_and_a_granted_one_a_wmo301() -> None:
    refused = f.ChangeDecision(request_id="r1", granted=False, decided_on=date(2024, 1, 1))
    granted = f.ChangeDecision(request_id="r1", granted=True, decided_on=date(2024, 1, 1))
    assert message_for("ChangeDecided", "municipality", refused) == ("WMO319", "provider")
    # a granted decision's own scale change or extension carries the WMO301
    assert message_for("ChangeDecided", "municipality", granted) is None


def test_a_correction_is_news_when_what_it_corrects_was() -> None:
    fix = f.Retraction(event_version=3, reason="x")
    assert message_for("EventRetracted", "provider", fix, "CareStarted") == (
        "WMO305",
        "municipality",
    )
    assert message_for("EventCorrected", "municipality", fix, "IndicationGranted") == (
        "WMO301",
        "provider",
    )
    assert message_for("EventRetracted", "provider", fix, "ContactRecorded") is None


def rows(views: ViewStore) -> list[tuple]:
    return sorted(views.query("SELECT * FROM iwmo_outbox"))


def test_exactly_once_per_fact_and_a_rebuild_gives_the_same_rows(store: CaseLog) -> None:
    # given demo cases, projected in two waves by small batches
    store.import_cases(generate(10, seed=4), chunk=5)
    views = ViewStore(store.store)
    projection = OutboxProjection(store, views, batch_size=23)
    projection.catch_up()
    store.import_cases(generate(6, seed=5), chunk=5)
    projection.catch_up()
    projection.catch_up()  # nothing new: nothing changes
    incremental = rows(views)
    # then one row per message-bearing fact, in log order
    positions = [r[0] for r in incremental]
    assert len(positions) == len(set(positions))
    expected = 0
    for n, event in store.iter_events(limit=100_000):
        fact = event.fact
        target = None
        if isinstance(fact, f.Retraction | f.Correction):
            case = store.get_case(n.originator_id, event.actor, version=n.originator_version)
            target = case.entry(fact.event_version).event_type
        if message_for(type(event).__name__, event.actor.role, fact, target):
            expected += 1
    assert len(incremental) == expected > 0
    # when it is rebuilt from the log
    OutboxProjection(store, views, batch_size=1000).rebuild()
    assert rows(views) == incremental


def test_every_message_built_from_demo_cases_passes_the_schema(store: CaseLog) -> None:
    # given demo cases of both regions, every client with an identity in the registry
    store.import_cases(generate(25, seed=6), chunk=10)
    views = ViewStore(store.store)
    OutboxProjection(store, views).catch_up()
    ProjectionRunner(store, views).run_until_current()
    registry = ClientRegistry(views)
    for tenant, client_ref in views.query("SELECT DISTINCT tenant, client_ref FROM case_summary"):
        registry.register(
            tenant, client_ref, Identity(bsn="999990019", name="Demo", birth_date=date(1980, 1, 1))
        )
    # when every message of every feed is built, then each passes the schema walk
    built: dict[str, int] = {}
    for tenant in ("zou", "drechtsteden"):
        for role in ("provider", "municipality"):
            for row in feed(views, tenant, role, None, limit=100_000):
                message = codec.decode(build(store, registry, row))
                assert message.header.bericht_identificatie.identificatie == (
                    f"CL{row.position:010d}"
                )
                built[row.code] = built.get(row.code, 0) + 1
    assert {"WMO301", "WMO305", "WMO307"} <= set(built) <= RELEVANT


def test_declaration_lines_catch_up_in_batches_equals_a_rebuild(store: CaseLog) -> None:
    # given demo cases projected incrementally in small batches, in two waves
    store.import_cases(generate(12, seed=7), chunk=5)
    views = ViewStore(store.store)
    runner = ProjectionRunner(store, views, batch_size=41)
    runner.run_until_current()
    store.import_cases(generate(6, seed=8), chunk=5)
    runner.run_until_current()
    incremental = sorted(views.query("SELECT * FROM declaration_line"))
    assert incremental
    # when the declarations projection alone is rebuilt, then its rows are the same
    runner.rebuild(["declarations"])
    assert sorted(views.query("SELECT * FROM declaration_line")) == incremental
