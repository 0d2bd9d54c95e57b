"""Cost of deriving one case version against the case's length: ``python -m bench.derive``.

For cases of 10, 100, 1,000 and 5,000 events (``bench.long_cases.build_case``: contacts of
8 h/week over a year), in the same run:

- ``full_ms_<n>``: the version derived from all its facts (``projections.derive`` without
  the version before: what the projection runner did for every version before the
  derivation was incremental, consumption + summary + KPI items);
- ``next_ms_<n>``: the same version derived from the version before (one more contact);
- ``past_month_ms_<n>``: a contact dated in the first month of care, derived from the
  version before (every later month is refolded: the dearest contact);
- ``entitlements_signals_ms_<n>``: the entitlements and signals of the version (derived once
  per batch for the read models), in full and from the derivation (hours used summed per
  month and kept: ``..._derived_ms_<n>``);
- ``next_ratio_5000_10`` and ``full_ratio_5000_10``: the 5,000-event cost over the 10-event
  cost (flat is 1);
- ``rebuild_events_per_s_incremental`` / ``..._full``: a rebuild of every projection
  (``ProjectionRunner.rebuild``, SQLite, ``--cases`` demo cases) with each version derived
  from the one before, and with every version derived in full (as before the derivation
  was incremental), alternated ``--rounds`` times in the same run (best of each), and
  ``rebuild_speedup`` their ratio.

Prints one JSON document (``--json FILE`` writes it too).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

SIZES = (10, 100, 1_000, 5_000)


def _ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def measure(repeat: int = 7) -> dict[str, float]:
    out: dict[str, float] = {}
    for n in SIZES:
        out.update(_size(n, repeat))
    out["next_ratio_5000_10"] = round(out["next_ms_5000"] / out["next_ms_10"], 2)
    out["full_ratio_5000_10"] = round(out["full_ms_5000"] / out["full_ms_10"], 2)
    return out


def _size(n: int, repeat: int) -> dict[str, float]:
    from bench.long_cases import build_case
    from domain import facts as f
    from domain.catalogue import default_catalogues
    from domain.values import Actor
    from projections.derive import derive
    from projections.entitlement import entitlements
    from projections.signals import signals

    class App:
        catalogues = default_catalogues()

    cat = App.catalogues.for_tenant("zou")
    pr = Actor(sub="bench", role="provider", tenant="zou", provider="aanbieder-a")
    out: dict[str, float] = {}

    def next_version(day: date) -> tuple[Any, Any]:
        """A case of n - 1 events derived in full, then one more contact on ``day``."""
        case = build_case(App, n - 1, 0)
        previous = derive(str(case.id), case.state, case.entries, cat, case.version)
        case.record(pr, f.Contact(occurred_on=day, minutes=45, kind="direct"), cat)
        return case, previous

    case, previous = next_version(date(2021, 12, 20))
    cid = str(case.id)
    out[f"full_ms_{n}"] = _ms(
        lambda: derive(cid, case.state, case.entries, cat, case.version), repeat
    )
    out[f"next_ms_{n}"] = _ms(
        lambda: derive(cid, case.state, case.entries, cat, case.version, previous), repeat
    )
    full = derive(cid, case.state, case.entries, cat, case.version)

    def in_full() -> None:
        entitlements(case.state, case.entries, cat, months=full.months)
        signals(case.state, case.entries, cat, full.months)

    def derived() -> None:
        d = derive(cid, case.state, case.entries, cat, case.version, previous)
        d.entitlements  # noqa: B018 - derived on first use
        d.signals  # noqa: B018

    out[f"entitlements_signals_ms_{n}"] = _ms(in_full, repeat)
    out[f"entitlements_signals_derived_ms_{n}"] = round(
        _ms(derived, repeat) - out[f"next_ms_{n}"], 3
    )
    # the dearest contact: dated in the first month of care, every later month refolds
    early, before = next_version(date(2021, 1, 12))
    out[f"past_month_ms_{n}"] = _ms(
        lambda: derive(str(early.id), early.state, early.entries, cat, early.version, before),
        repeat,
    )
    return out


def rebuild(cases: int, rounds: int) -> dict[str, float]:
    """Rebuild speed with the runner deriving each version from the one before, and in
    full, in the same process on the same database."""
    import tempfile

    import projections.runner as runner_module
    from application.application import CaseLog
    from application.demo import generate
    from projections.derive import derive
    from storage.config import store_config

    def in_full(*args: Any) -> Any:
        return derive(*args[:5])  # the version before is ignored

    best = {"incremental": 0.0, "full": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        app = CaseLog(store=store_config(f"sqlite:///{Path(tmp) / 'rebuild.db'}"))
        try:
            app.import_cases(generate(cases, seed=2022), chunk=50)
            runner = runner_module.ProjectionRunner(app)
            for _ in range(rounds):
                for way in ("incremental", "full"):
                    runner_module.derive = derive if way == "incremental" else in_full  # type: ignore[assignment]
                    runner._cases.clear()
                    started = time.perf_counter()
                    events = runner.rebuild()
                    rate = events / (time.perf_counter() - started)
                    best[way] = max(best[way], round(rate))
        finally:
            runner_module.derive = derive
            app.close()
    return {
        "rebuild_events": events,
        "rebuild_events_per_s_incremental": best["incremental"],
        "rebuild_events_per_s_full": best["full"],
        "rebuild_speedup": round(best["incremental"] / best["full"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.derive", description=__doc__)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--cases", type=int, default=300, help="demo cases for the rebuild")
    p.add_argument("--rounds", type=int, default=2, help="rebuilds per way")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    figures: dict[str, float] = measure(args.repeat)
    figures.update(rebuild(args.cases, args.rounds))
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
