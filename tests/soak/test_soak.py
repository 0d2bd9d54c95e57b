"""Soak: a mixed keyed load on the real service, killed -9 and its PostgreSQL restarted
underneath it, then the log and the projections checked against what the clients wrote.

Many clients send keyed contact writes (80%) and case and consumption reads (20%) to a few
cases that grow all the time; a write not acknowledged (connection lost, 503) is sent again
with the same Idempotency-Key until it is (also after a 409 "in progress": the request
that claimed the key died with the service, and its claim goes stale after a few seconds).
Just after the first window the service is killed -9 and started again; at 40% of the run
(PostgreSQL) the database server is stopped and started, so the last window (the last
fifth) finds everything recovered. Then:

- every acknowledged key is in the log exactly once, at its acknowledged version, and no key
  is in it twice;
- every case's versions run 1..n without a gap;
- the consumption projection equals, per case and month, the minutes the clients wrote;
- no answer was a 5xx, except 503 for requests begun while the database was down (until
  /health answered 200 again);
- in runs with windows of 20 s or more, acknowledged writes per second in the last window
  are at least 75% of the first, the cases being much longer by then (shorter windows are
  at the mercy of other work on a shared machine: the short run reports the figure, and
  the CPU per write of the service and of its projection runner in both windows).

Contact dates (``CASELOG_SOAK_DATES``): ``diary`` (the default) keeps a diary per case, as a
provider's system does: contacts are dated on the case's current day, which moves on a day
every ``PER_DAY`` contacts, and one in ten is a late registration dated up to 45 days back; so
a case grows the way real long cases do (Bemoeizorg, intensive guidance), in years of
months of ordinary size, on a 02A04 indication that runs ten years. ``spread`` dates every
contact on a random day of February to November 2024 (the cases of the fault tests, 40 h a
week for 2024): every case then grows inside the same ten months, each month to hundreds of
contacts, and most contacts are back-dated by months.

``CASELOG_SOAK_SECONDS`` (default 20 per store: the short version in the normal suite) and
``CASELOG_SOAK_CLIENTS`` (default 8) size it; windows are a fifth of the run, at most a
minute. ``CASELOG_SOAK_REPORT=path`` writes the figures as JSON. The long version, as in
docs/operations.md: ``CASELOG_SOAK_SECONDS=360 CASELOG_SOAK_CLIENTS=24 pytest -m soak -s``.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from application.application import CaseLog
from storage.config import store_config
from storage.views import ViewStore
from tests.faults.conftest import Service
from tests.faults.test_crash_and_restart import MUNICIPALITY, PROVIDER, active_case
from tests.pgcluster import PrivateCluster

pytestmark = [pytest.mark.soak, pytest.mark.fault]

SECONDS = float(os.environ.get("CASELOG_SOAK_SECONDS", "20"))
CLIENTS = int(os.environ.get("CASELOG_SOAK_CLIENTS", "8"))
FAULTS = os.environ.get("CASELOG_SOAK_FAULTS", "1") != "0"  # 0: the load alone, to compare
DATES = os.environ.get("CASELOG_SOAK_DATES", "diary")
CASES = 8
WARM_UP = 2.0
#: diary: contacts a day, the first day, the share of late registrations and how late
PER_DAY = 3
DIARY_FROM = date(2019, 1, 21)
LATE_SHARE = 0.1
LATE_DAYS = 45


def long_case(url: str, n: int) -> str:
    """A Bemoeizorg (02A04) case with an indication of ten years: 02A04 has no maximum
    duration ("in principle" a year: a signal, not a refusal; DOMAIN.md, C-05)."""
    with httpx.Client(base_url=url, timeout=30) as c:
        cid = c.post("/v1/cases", headers=MUNICIPALITY, json={
            "client_ref": f"soak-{n}", "municipality": "Houten", "provider": "aanbieder-a",
            "referred_on": "2019-01-07"}).json()["case_id"]  # fmt: skip
        r = c.post(f"/v1/cases/{cid}/indications", headers=MUNICIPALITY, json={
            "assignment_number": f"S-{n}", "product": "02A04",
            "volume": {"amount": "12", "unit": "hour", "frequency": "week"},
            "starts_on": "2019-01-14", "ends_on": "2028-12-31", "decision_ref": "S",
            "decided_on": "2019-01-10"})  # fmt: skip
        assert r.status_code == 200, r.text
        r = c.post(f"/v1/cases/{cid}/start", headers=PROVIDER, json={"started_on": "2019-01-21"})
        assert r.status_code == 200, r.text
        return str(cid)


@dataclass
class Soak:
    url: str
    cases: list[str]
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: (monotonic start, monotonic answer, status) of every request; -1 for a connection error
    answers: list[tuple[float, float, int]] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)  # key -> version
    sent: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # key -> case, month, min
    acked_at: list[float] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    #: diary: contacts sent per case so far (the case's current day)
    diary: Counter[str] = field(default_factory=Counter)

    def contact_day(self, cid: str, rng: random.Random) -> date:
        if DATES == "spread":
            return date(2024, rng.randint(2, 11), rng.randint(1, 28))
        with self.lock:
            sent = self.diary[cid]
            self.diary[cid] += 1
        day = DIARY_FROM + timedelta(days=sent // PER_DAY)
        if rng.random() < LATE_SHARE:
            day = max(DIARY_FROM, day - timedelta(days=rng.randint(1, LATE_DAYS)))
        return day

    def read_month(self, cid: str, rng: random.Random) -> str:
        if DATES == "spread":
            return f"2024-{rng.randint(2, 11):02d}"
        with self.lock:
            sent = self.diary[cid]
        day = DIARY_FROM + timedelta(days=sent // PER_DAY - rng.randint(0, 60))
        return max(day, DIARY_FROM).isoformat()[:7]

    def note(self, started: float, status: int, detail: str = "") -> None:
        answered = time.monotonic()
        with self.lock:
            self.answers.append((started, answered, status))
            if status not in (-1, 200, 503) and not in_progress(status, detail):
                self.unexpected.append(f"{status} {detail[:300]}")


def in_progress(status: int, detail: str) -> bool:
    """The key's first request has not answered yet (or died with a killed service, until
    its claim is stale): the documented answer is to retry."""
    return status == 409 and "problems/in-progress" in detail


def client(soak: Soak, i: int) -> None:
    rng = random.Random(i)
    n = 0
    with httpx.Client(base_url=soak.url, timeout=15) as c:
        while time.monotonic() < soak.deadline:
            cid = rng.choice(soak.cases)
            if rng.random() < 0.2:
                month = soak.read_month(cid, rng)
                path = f"/v1/cases/{cid}" if rng.random() < 0.5 else f"/v1/cases/{cid}/consumption"
                started = time.monotonic()
                try:
                    r = c.get(path, params={"month": month} if "consumption" in path else None,
                              headers=PROVIDER)  # fmt: skip
                except httpx.HTTPError:
                    soak.note(started, -1)
                    time.sleep(0.05)
                    continue
                soak.note(started, r.status_code, r.text)
                continue
            key = f"soak-{i}-{n}"
            n += 1
            day = soak.contact_day(cid, rng).isoformat()
            minutes = rng.randint(5, 60)
            with soak.lock:
                soak.sent[key] = (cid, day[:7], minutes)
            body = {"occurred_on": day, "minutes": minutes, "kind": "direct"}
            while time.monotonic() < soak.deadline:  # the same key until acknowledged
                started = time.monotonic()
                try:
                    r = c.post(f"/v1/cases/{cid}/contacts",
                               headers=PROVIDER | {"Idempotency-Key": key}, json=body)  # fmt: skip
                except httpx.HTTPError:
                    soak.note(started, -1)
                    time.sleep(0.05)
                    continue
                soak.note(started, r.status_code, r.text)
                if r.status_code == 200:
                    with soak.lock:
                        soak.acked[key] = r.json()["version"]
                        soak.acked_at.append(time.monotonic())
                    break
                time.sleep(0.1)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time of the service process, and of its children (the projection runner)."""
    tick = os.sysconf("SC_CLK_TCK")
    own = children = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / tick
        if stat.parent.name == str(pid):
            own += used
        elif fields[1] == str(pid):
            children += used
    return own, children


Sample = tuple[float, int, tuple[float, float]]


def sample_cpu(svc: Service, samples: list[Sample], until: float) -> None:
    while time.monotonic() < until:
        proc = svc.proc
        if proc is not None and proc.poll() is None:
            samples.append((time.monotonic(), proc.pid, cpu_seconds(proc.pid)))
        time.sleep(0.5)


def cpu_ms_per_write(
    samples: list[Sample], acked_at: list[float], start: float, end: float, runner: bool = False
) -> float | None:
    """CPU per acknowledged write inside [start, end) of the serving process (or of its
    projection runner): a cost that other work on the machine does not change, unlike
    throughput."""
    inside = [s for s in samples if start <= s[0] < end]
    if len(inside) < 2 or inside[0][1] != inside[-1][1]:
        return None
    (a, _, cpu_a), (b, _, cpu_b) = inside[0], inside[-1]
    writes = sum(1 for t in acked_at if a <= t < b)
    used = cpu_b[runner] - cpu_a[runner]
    return round(1000 * used / writes, 3) if writes else None


def healthy_at(url: str, timeout: float = 60) -> float:
    """The first moment /health answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("the service did not become healthy")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def soak_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, PrivateCluster | None]:
    """SQLite, or a database on the tests' own PostgreSQL server (tests/pgcluster.py): the
    soak restarts its server, never the shared one other tests use."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'caselog.db'}", None
    return request.getfixturevalue("private_pg_url"), request.getfixturevalue("private_pg")


def test_soak_exactly_once_gap_free_equal_projections_steady_throughput(
    soak_store: tuple[str, PrivateCluster | None], tmp_path: Path
) -> None:
    database_url, cluster = soak_store
    pg = cluster is not None
    svc = Service(database_url, tmp_path / "service.log")
    svc.start()
    figures: dict[str, object] = {
        "store": "postgres" if pg else "sqlite",
        "seconds": SECONDS,
        "dates": DATES,
    }
    down: tuple[float, float] | None = None
    try:
        new_case = active_case if DATES == "spread" else long_case
        cases = [new_case(svc.url, n) for n in range(CASES)]
        start = time.monotonic()
        soak = Soak(svc.url, cases, start + WARM_UP + SECONDS)
        threads = [threading.Thread(target=client, args=(soak, i)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        t0 = start + WARM_UP
        samples: list[Sample] = []
        sampler = threading.Thread(target=sample_cpu, args=(svc, samples, soak.deadline + 1))
        sampler.start()

        time.sleep(max(0.0, t0 + 0.22 * SECONDS - time.monotonic()))
        if FAULTS:
            killed = time.monotonic()
            svc.kill()
            svc.start()
            figures["recovery_after_kill_s"] = round(healthy_at(svc.url) - killed, 2)
        if pg and FAULTS:
            time.sleep(max(0.0, t0 + 0.4 * SECONDS - time.monotonic()))
            stopped = time.monotonic()
            assert cluster is not None
            cluster.stop()
            time.sleep(1.0)
            cluster.start()
            down = (stopped, healthy_at(svc.url))
            figures["database_down_s"] = round(down[1] - down[0], 2)
        for t in threads:
            t.join(timeout=SECONDS + 120)
        sampler.join()

        window = min(60.0, SECONDS / 5)
        first = sum(1 for t in soak.acked_at if t0 <= t < t0 + window) / window
        last = sum(1 for t in soak.acked_at if soak.deadline - window <= t < soak.deadline) / window
        figures |= {
            "clients": CLIENTS,
            "acknowledged_writes": len(soak.acked),
            "window_s": window,
            "first_window_writes_per_s": round(first, 1),
            "last_window_writes_per_s": round(last, 1),
            "last_to_first": round(last / first, 3) if first else None,
            "first_window_cpu_ms_per_write": cpu_ms_per_write(
                samples, soak.acked_at, t0, t0 + window
            ),
            "last_window_cpu_ms_per_write": cpu_ms_per_write(
                samples, soak.acked_at, soak.deadline - window, soak.deadline
            ),
            "first_window_runner_cpu_ms_per_write": cpu_ms_per_write(
                samples, soak.acked_at, t0, t0 + window, runner=True
            ),
            "last_window_runner_cpu_ms_per_write": cpu_ms_per_write(
                samples, soak.acked_at, soak.deadline - window, soak.deadline, runner=True
            ),
            "writes_per_s_by_window": [
                round(sum(1 for t in soak.acked_at if w <= t < w + window) / window, 1)
                for w in [t0 + k * window for k in range(int(SECONDS // window))]
            ],
            "answers": dict(Counter(status for _, _, status in soak.answers)),
        }

        # projections caught up before they are compared
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            health = httpx.get(svc.url + "/health", timeout=10).json()
            if health.get("projections_lag") == 0:
                break
            time.sleep(0.2)
        app = CaseLog(store=store_config(database_url), group_commit=False)
        views = ViewStore(app.store)
        try:
            keys: Counter[str] = Counter()
            at: dict[str, int] = {}
            written: dict[tuple[str, str], int] = defaultdict(int)
            longest = 0
            for cid in cases:
                events = list(app.events.get(UUID(cid)))
                versions = [e.originator_version for e in events]
                assert versions == list(range(1, len(events) + 1)), f"gap in {cid}"
                longest = max(longest, len(events))
                for e in events:
                    rk = e.actor.request_key
                    if rk and rk.split(":", 1)[1].startswith("soak-"):
                        key = rk.split(":", 1)[1]
                        keys[key] += 1
                        at[key] = e.originator_version
                        case, month, minutes = soak.sent[key]
                        assert (case, month, minutes) == (
                            cid, e.fact.occurred_on.isoformat()[:7], e.fact.minutes
                        )  # fmt: skip
                        written[(cid, month)] += minutes
            figures["longest_case_events"] = longest
            figures["most_months_in_a_case"] = max(
                Counter(cid for cid, _ in written).values(), default=0
            )
            assert [k for k, n in keys.items() if n > 1] == [], "a key applied twice"
            assert {k: at.get(k) for k in soak.acked} == soak.acked, "acknowledged != logged"
            projected: dict[tuple[str, str], int] = {}
            marks = ", ".join("?" * len(cases))
            for case_id, month, doc in views.query(
                f"SELECT case_id, month, doc FROM consumption_month WHERE case_id IN ({marks})",
                cases,
            ):
                doc = json.loads(doc) if isinstance(doc, str | bytes) else doc
                if doc["minutes"]["direct"]:
                    projected[(str(case_id), month)] = doc["minutes"]["direct"]
            assert projected == dict(written), "the projection differs from what was written"
        finally:
            views.close()
            app.close()
    finally:
        if cluster is not None and not cluster.ready():
            cluster.start()
        svc.stop()
        report = os.environ.get("CASELOG_SOAK_REPORT")
        if report:
            with Path(report).open("a") as fh:
                fh.write(json.dumps(figures) + "\n")
        print(json.dumps(figures))

    assert soak.unexpected == []
    # a 503 is the database's downtime when the request overlapped it: sent before the
    # server came back and answered after it went down (in flight at the stop, too)
    bad = [
        (round(started - t0, 2), status)
        for started, answered, status in soak.answers
        if status >= 500
        and not (status == 503 and down and started <= down[1] and answered >= down[0])
    ]
    assert bad == [], f"5xx outside the database's downtime: {bad[:20]}"
    # Throughput, the last window against the first, is asserted in runs with windows of
    # 20 s or more (CASELOG_SOAK_SECONDS >= 100). The short run's 6-second windows move by
    # +-40% with other work on a shared 2-core machine (a run without faults: 118, 114, 74,
    # 90, 135 writes/s), so there it is reported with the CPU per write of the service and
    # of its projection runner (docs/performance.md), not asserted.
    assert first > 0
    if window >= 20:
        assert last >= 0.75 * first, figures
