"""``caselog projections | clients | retention``: operating the store."""

from __future__ import annotations

import sys
import time
from datetime import date
from uuid import UUID

import click
import msgspec

from caselog.cli.common import (
    CONTEXT,
    CaseId,
    CliError,
    IsoDate,
    check_tenant,
    open_app,
    open_views,
    progress_bar,
    settings,
    store_options,
)


@click.group(context_settings=CONTEXT)
def projections() -> None:
    """Projection status, rebuild and the follower that keeps them current."""


@projections.command(context_settings=CONTEXT)
@store_options
@click.pass_context
def status(ctx: click.Context) -> int:
    """Each projection's position in the log and how far it lags."""
    from projections.runner import ProjectionRunner

    with open_app(ctx) as app:
        for row in ProjectionRunner(app).status():
            click.echo(f"{row.name:<14} position {row.position:>10}  lag {row.lag:>8}")
    return 0


@projections.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that rebuild in parallel on PostgreSQL (default: one per core).",
)
@store_options
@click.pass_context
def rebuild(ctx: click.Context, names: tuple[str, ...], workers: int | None) -> int:
    """Rebuild the named projections (all by default) from the whole log into fresh tables
    and swap them in: readers keep the current tables until the swap, and the command may
    run while 'serve' serves."""
    from projections.runner import ProjectionRunner

    with open_app(ctx) as app:
        runner = ProjectionRunner(app)
        unknown = sorted(set(names) - set(runner.names))
        if unknown:
            raise CliError(
                f"no projection named {', '.join(unknown)}; choose from {', '.join(runner.names)}"
            )
        started = time.perf_counter()
        with progress_bar("rebuild", unit="events") as update:
            try:
                n = runner.rebuild(list(names) or None, progress=update, workers=workers)
            except RuntimeError as e:  # another rebuild runs, or a worker failed
                raise CliError(f"{e}; the current tables are unchanged") from None
        took = time.perf_counter() - started
        click.echo(
            f"rebuilt {', '.join(names or runner.names)}: {n} events in {took:.1f}s "
            f"({n / took if took else 0:,.0f} events/s)"
        )
    return 0


@projections.command(context_settings=CONTEXT)
@store_options
@click.pass_context
def follow(ctx: click.Context) -> int:
    """Keep every projection current until interrupted (beside 'serve --projections off')."""
    from api.conventions import configure_logging
    from projections.runner import ProjectionRunner

    s = settings(ctx)
    with open_app(ctx) as app:
        configure_logging(level=s.log_level, fmt=s.log_format)
        click.echo(f"following {app.store.redacted_url}; Ctrl+C to stop", err=True)
        ProjectionRunner(app).follow()
    return 0


@click.group(context_settings=CONTEXT)
def clients() -> None:
    """The client registry (identifying data, kept apart from the events)."""


@clients.command(context_settings=CONTEXT)
@click.argument("client_ref")
@click.option("--tenant", required=True, help="The region the client belongs to.")
@click.option("--by", default="cli", show_default=True, help="Who erases (kept in the record).")
@click.option("--yes", "-y", is_flag=True, help="Erase without asking for confirmation.")
@store_options
@click.pass_context
def erase(ctx: click.Context, client_ref: str, tenant: str, by: str, yes: bool) -> int:
    """Erase a client's identifying data for good: the key is destroyed (crypto-shredding,
    R-33). Histories and KPIs stay: they never held the identity."""
    from application.registry import ClientRegistry

    check_tenant(settings(ctx), tenant)
    with open_views(ctx) as views:
        if not yes:
            if not sys.stdin.isatty():
                raise CliError(
                    "erasing cannot be undone and there is no terminal to confirm on; "
                    "pass --yes to erase without asking"
                )
            click.confirm(
                f"Erase the identity of {client_ref} ({tenant}) for good?", abort=True, err=True
            )
        erased = ClientRegistry(views).erase(tenant, client_ref, by=by)
    if erased:
        click.echo(f"erased {client_ref} ({tenant}): key and identity destroyed")
    else:
        click.echo(
            f"nothing matched: no client {client_ref} registered in {tenant}; the reference "
            "is marked as erased, so it cannot be registered later"
        )
    return 0


@click.group(context_settings=CONTEXT)
def retention() -> None:
    """Retention of case files (R-33: 15 years after the end, 5 without a provision)."""


@retention.command(context_settings=CONTEXT)
@click.option("--on", type=IsoDate(), help="The date to judge on (default today).")
@store_options
@click.pass_context
def report(ctx: click.Context, on: date | None) -> int:
    """Cases past their retention term, as JSON lines (count on stderr)."""
    from application.application import today
    from application.registry import retention_report

    day = on or today()
    with open_views(ctx) as views:
        rows = retention_report(views, day)
    for row in rows:
        click.echo(msgspec.json.encode(row).decode())
    click.echo(f"{len(rows)} case(s) past retention on {day}", err=True)
    return 0


@retention.command(context_settings=CONTEXT)
@click.argument("case_id", type=CaseId())
@click.option("--by", required=True, help="Who orders the destruction (kept in the log line).")
@click.option("--yes", "-y", is_flag=True, help="Destroy without asking for confirmation.")
@store_options
@click.pass_context
def destroy(ctx: click.Context, case_id: UUID, by: str, yes: bool) -> int:
    """Destroy one case past its retention term (R-33): its stored events, snapshots and
    read-model rows. Refused for a case the retention report does not list."""
    from application.retention import destroy_case
    from domain.errors import RuleViolation

    with open_app(ctx) as app, open_views(ctx) as views:
        if not yes:
            if not sys.stdin.isatty():
                raise CliError(
                    "destroying a case cannot be undone and there is no terminal to confirm "
                    "on; pass --yes to destroy without asking"
                )
            click.confirm(f"Destroy case {case_id} and its history for good?", abort=True, err=True)
        try:
            done = destroy_case(app, views, case_id, by)
        except RuleViolation as refused:
            raise CliError(
                f"{refused}; `caselog retention report` lists the cases that may be destroyed"
            ) from None
    click.echo(msgspec.json.encode(done).decode())
    return 0


COMMANDS = [projections, clients, retention]
