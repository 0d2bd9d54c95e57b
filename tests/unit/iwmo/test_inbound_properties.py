"""Hypothesis over inbound message fields: every message gets a schema-valid answer, a
refused message writes nothing, a part's codes match what the log holds, and a resend after
a crash (the ledger lost, the events kept) writes nothing again."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.application import CaseLog
from domain.values import Actor
from iwmo import codec
from iwmo import examples as ex
from iwmo import messages as m
from iwmo.inbound import Inbound, encode_answer
from storage.config import store_config
from storage.views import ViewStore

TODAY = date(2026, 11, 23)
BASE = date(2026, 1, 1)
GEMEENTE = Actor(sub="g", role="municipality", tenant="zou")
AANBIEDER = Actor(sub="p", role="provider", tenant="zou", provider="aanbieder-a")

days = st.integers(0, 500).map(lambda n: BASE + timedelta(days=n))
numbers = st.sampled_from(["T1", "T2", "T3"])
bsns = st.sampled_from(["999990019", "111222333"])


@st.composite
def messages(draw: st.DrawFn, ident: str) -> tuple[Actor, m.Bericht]:
    kind = draw(st.sampled_from(["301", "305", "307", "317", "319", "315"]))
    day = draw(days)
    bsn = draw(bsns)
    number = draw(numbers)
    start = draw(days)
    if kind == "301":
        products = draw(
            st.lists(
                st.builds(
                    ex.assignment,
                    numbers,
                    days,
                    st.one_of(st.none(), days),
                    code=st.sampled_from(["02A05", "02A03", "02Z99"]),
                    hours=st.integers(1, 12),
                    decided=days,
                    reason=st.sampled_from([None, "01", "04", "13", "14"]),
                ),
                min_size=1,
                max_size=3,
            )
        )
        return GEMEENTE, ex.wmo301(ident, day, *products, bsn=bsn)
    if kind == "305":
        status = draw(st.sampled_from(["1", "3"]))
        return AANBIEDER, ex.wmo305(ident, day, number, start, draw(days), status=status, bsn=bsn)
    if kind == "307":
        return AANBIEDER, ex.wmo307(
            ident,
            day,
            number,
            start,
            draw(days),
            draw(days),
            reason=draw(st.sampled_from(["19", "20", "38"])),
            status=draw(st.sampled_from(["1", "3"])),
            bsn=bsn,
        )
    ref = draw(st.sampled_from(["R1", "R2"]))
    if kind == "317":
        return AANBIEDER, ex.wmo317(
            ident, day, ref, number, start, hours=draw(st.integers(1, 9)), bsn=bsn
        )
    if kind == "319":
        return GEMEENTE, ex.wmo319(ident, day, ref, answer=draw(st.sampled_from(["1", "2"])))
    return AANBIEDER, ex.wmo315(ident, day, ref, start, bsn=bsn)


@pytest.fixture
def world(tmp_path: Path) -> tuple[CaseLog, ViewStore]:
    app = CaseLog(store=store_config(f"sqlite:///{tmp_path / 'caselog.db'}"))
    views = ViewStore(app.store)
    yield app, views
    views.close()
    app.close()


def log_size(app: CaseLog) -> int:
    return len(list(app.recorder.select_notifications(1, 100_000)))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_message_sequences_never_fail_and_never_apply_partly(data: st.DataObject) -> None:
    # a fresh store per example: hypothesis replays an example to shrink it
    with tempfile.TemporaryDirectory() as folder:
        app = CaseLog(store=store_config(f"sqlite:///{Path(folder) / 'caselog.db'}"))
        views = ViewStore(app.store)
        try:
            check_random_sequence(app, views, data)
        finally:
            views.close()
            app.close()


def check_random_sequence(app: CaseLog, views: ViewStore, data: st.DataObject) -> None:
    inbound = Inbound(app, views, b"test-key")
    for n in range(data.draw(st.integers(1, 8))):
        actor, message = data.draw(messages(f"M{n}-{data.draw(st.integers(0, 10**6))}"))
        before = log_size(app)
        answer = inbound.receive(actor, message, TODAY)
        assert codec.decode(encode_answer(answer)) is not None  # the answer is schema-valid
        written = log_size(app) - before
        assert isinstance(answer, m.Retour)
        refused_all = answer.body is not None and not any(
            c == ("0200",) for p, c in answer.codes.items() if p != "/Bericht/Client"
        )
        if answer.header_codes != ("0200",) or refused_all:
            assert written == 0, "a refused message writes nothing"
        # a resend after a crash that lost the answer: nothing is written again
        again = inbound.receive(actor, message, TODAY)
        assert log_size(app) - before == written
        assert again.all_codes() <= answer.all_codes() | {"0200"}
