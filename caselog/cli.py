"""The ``caselog`` command: serve, demo data, tokens, histories and projection operations."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from uuid import UUID

import msgspec

from caselog.config import ConfigError, store_config


def _app(url: str | None):
    from caselog.application import CaseLog

    return CaseLog(store=store_config(url))


def cmd_demo(args: argparse.Namespace) -> int:
    """Load the deterministic demo data set (skipped when the store already holds cases)."""
    from caselog.demo import generate

    app = _app(args.database_url)
    try:
        if not args.force and app.recorder.max_notification_id():
            print("the store already holds events; demo data not loaded (use --force to add)")
            return 0
        started = time.perf_counter()
        events = app.import_cases(generate(args.cases, seed=args.seed))
        took = time.perf_counter() - started
        print(
            f"loaded {args.cases} demo cases, {events} events in {took:.1f}s "
            f"into {app.store.redacted_url}"
        )
        _catch_up(app)
        first = next(app.iter_events(1, 1))[1]
        print(f"for example: caselog history {first.originator_id}")
    finally:
        app.close()
    return 0


def _catch_up(app) -> None:
    try:
        from projections.runner import ProjectionRunner
    except ImportError:  # the projections arrive with their own module
        return
    runner = ProjectionRunner(app)
    processed = runner.run_until_current(progress=_progress)
    print(f"projections current ({processed} events processed)")


def _progress(done: int, total: int) -> None:
    if not sys.stderr.isatty():
        return
    width = 40
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def cmd_history(args: argparse.Namespace) -> int:
    """Print a case's events, oldest first, as JSON lines (the auditor's view)."""
    from domain.values import Actor

    app = _app(args.database_url)
    try:
        case_id = UUID(args.case_id)
        # the command line is an operator's tool: it reads on the system's own authority
        tenant = app.get_case_tenant(case_id)
        actor = Actor(sub="cli", role="auditor", tenant=tenant)
        for event in app.get_history(case_id, actor):
            line = {
                "version": event.originator_version,
                "type": type(event).__name__,
                "recorded_at": event.timestamp,
                "occurred_on": event.occurred_on,
                "actor": event.actor,
                "data": event.fact,
            }
            print(msgspec.json.encode(line).decode())
    finally:
        app.close()
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Print an HS256 token signed with ``CASELOG_JWT_SECRET``."""
    from api.auth import issue_token

    print(
        issue_token(
            role=args.role,
            tenant=args.tenant,
            provider=args.provider,
            sub=args.sub,
            ttl_seconds=args.ttl,
        )
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from api.server import serve

    if args.demo:
        # Demo amounts use the invented example tariffs, marked price_source="example".
        os.environ.setdefault("CASELOG_EXAMPLE_TARIFFS", "1")
        args.force = False
        args.cases = 300
        args.seed = 2022
        cmd_demo(args)
    return serve(
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        projections=args.projections,
    )


def cmd_projections(args: argparse.Namespace) -> int:
    from projections.runner import ProjectionRunner

    app = _app(args.database_url)
    try:
        runner = ProjectionRunner(app)
        if args.action == "follow":
            from api.app import configure_logging

            configure_logging()
            runner.follow()
        elif args.action == "status":
            for row in runner.status():
                print(f"{row.name:<14} position {row.position:>10}  lag {row.lag:>8}")
        else:
            names = [args.name] if args.name else None
            started = time.perf_counter()
            n = runner.rebuild(names, progress=_progress)
            print(
                f"rebuilt {', '.join(names or runner.names)}: {n} events in "
                f"{time.perf_counter() - started:.1f}s"
            )
    finally:
        app.close()
    return 0


def cmd_clients(args: argparse.Namespace) -> int:
    """Erase a client's identifying data: the key is destroyed (crypto-shredding, R-33)."""
    from caselog.registry import ClientRegistry
    from projections.store import ViewStore

    views = ViewStore(store_config(args.database_url))
    try:
        erased = ClientRegistry(views).erase(args.tenant, args.client_ref, by=args.by)
    finally:
        views.close()
    print(
        f"erased {args.client_ref} ({args.tenant}): key and identity destroyed"
        if erased
        else f"nothing registered for {args.client_ref} ({args.tenant}); marked as erased"
    )
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    """Cases past their retention term (R-33), as JSON lines."""
    from datetime import date

    from caselog.registry import retention_report
    from projections.store import ViewStore

    views = ViewStore(store_config(args.database_url))
    try:
        on = date.fromisoformat(args.on) if args.on else date.today()
        rows = retention_report(views, on)
    finally:
        views.close()
    for row in rows:
        print(msgspec.json.encode(row).decode())
    print(f"{len(rows)} case(s) past retention on {on}", file=sys.stderr)
    return 0


def cmd_iwmo(args: argparse.Namespace) -> int:
    """iWmo batch use: import message files (answers written beside them), or print a
    provider's WMO323 declaration for a month."""
    if args.action == "declaration":
        from iwmo.declaration import declaration_cli

        sys.stdout.buffer.write(
            declaration_cli(args.provider, args.municipality, args.month, args.tenant)
        )
        return 0
    from pathlib import Path

    from api.auth import secret
    from caselog.application import today
    from iwmo.cli import import_messages
    from iwmo.inbound import pseudonym_key
    from projections.store import ViewStore

    app = _app(args.database_url)
    views = ViewStore(app.store)
    try:
        summary = import_messages(
            [Path(p) for p in args.paths],
            app=app,
            views=views,
            pseudonym_key=pseudonym_key(secret()),
            today=today(),
            out=Path(args.out) if args.out else None,
            workers=args.workers,
            progress=_progress,
        )
    finally:
        views.close()
        app.close()
    print("\n".join(summary.lines()))
    return 1 if summary.refused else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="caselog", description=__doc__)
    p.add_argument(
        "--database-url",
        default=os.environ.get("CASELOG_DATABASE_URL"),
        help="sqlite:///path or postgresql://user@host:port/db (env CASELOG_DATABASE_URL)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP API and the projection runner")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--demo", action="store_true", help="load the demo data first if empty")
    s.add_argument(
        "--projections",
        choices=["inline", "off"],
        default="inline",
        help="run the projection runner in this process, or leave it to "
        "`caselog projections follow`",
    )
    s.set_defaults(func=cmd_serve)

    d = sub.add_parser("demo", help="load deterministic demo data (both tenants)")
    d.add_argument("--cases", type=int, default=300)
    d.add_argument("--seed", type=int, default=2022)
    d.add_argument("--force", action="store_true", help="add even if the store has events")
    d.set_defaults(func=cmd_demo)

    h = sub.add_parser("history", help="print a case's events as JSON lines")
    h.add_argument("case_id")
    h.set_defaults(func=cmd_history)

    t = sub.add_parser("token", help="print a signed JWT for the API")
    t.add_argument(
        "--role", required=True, choices=["municipality", "provider", "contract_manager", "auditor"]
    )
    t.add_argument("--tenant", required=True)
    t.add_argument("--provider")
    t.add_argument("--sub", default="cli-user")
    t.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid")
    t.set_defaults(func=cmd_token)

    cl = sub.add_parser("clients", help="client registry operations")
    cl.add_argument("action", choices=["erase"])
    cl.add_argument("client_ref")
    cl.add_argument("--tenant", required=True)
    cl.add_argument("--by", default="cli", help="who erases (kept in the erasure record)")
    cl.set_defaults(func=cmd_clients)

    rt = sub.add_parser("retention", help="retention report (R-33)")
    rt.add_argument("action", choices=["report"])
    rt.add_argument("--on", help="the date to judge on (default today)")
    rt.set_defaults(func=cmd_retention)

    iw = sub.add_parser("iwmo", help="iWmo 3.2 messages: import files, print a declaration")
    iw.add_argument("action", choices=["import", "declaration"])
    iw.add_argument("paths", nargs="*", help="message files or folders (import)")
    iw.add_argument("--out", help="folder for the retour messages (default: beside each file)")
    iw.add_argument("--workers", type=int, default=8, help="clients applied in parallel")
    iw.add_argument("--provider", help="declaration: provider id or AGB code")
    iw.add_argument("--municipality", help="declaration: municipality name or gemeentecode")
    iw.add_argument("--month", help="declaration: YYYY-MM")
    iw.add_argument("--tenant", help="declaration: the region (default: found from the codes)")
    iw.set_defaults(func=cmd_iwmo)

    pr = sub.add_parser("projections", help="projection status and rebuild")
    pr.add_argument("action", choices=["status", "rebuild", "follow"])
    pr.add_argument("name", nargs="?")
    pr.set_defaults(func=cmd_projections)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        print(f"caselog: configuration: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `caselog history ... | head`
        sys.stderr.close()
        return 0
    except ValueError as e:
        print(f"caselog: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
