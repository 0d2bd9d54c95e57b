"""What the subcommands share: options, settings, parameter types, stores and progress."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import click

from application.settings import LogLevel, Settings, load_settings
from storage.config import StoreConfig, store_config

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class CliError(click.ClickException):
    """A user's mistake or an unusable environment: one line, problem then fix, exit 1."""


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> object:
    if value is not None:
        ctx.ensure_object(dict)[param.name] = value
    return value


def store_options(f: F) -> F:
    """``--database-url`` and ``--log-level``, accepted before or after the subcommand."""
    f = click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
        callback=_remember,
        expose_value=False,
        help="Log level (env CASELOG_LOG_LEVEL; default info).",
    )(f)
    return click.option(
        "--database-url",
        metavar="URL",
        callback=_remember,
        expose_value=False,
        help="sqlite:///path/file.db or postgresql://user@host:port/db "
        "(env CASELOG_DATABASE_URL; default sqlite:///./caselog.db).",
    )(f)


def settings(ctx: click.Context | None = None) -> Settings:
    """The validated settings, with the command line's options on top."""
    ctx = ctx or click.get_current_context()
    obj = ctx.find_root().obj or {}
    if "settings" not in obj:
        level: LogLevel | None = obj.get("log_level")
        obj["settings"] = load_settings(
            database_url=obj.get("database_url"), log_level=level.lower() if level else None
        )
        ctx.find_root().obj = obj
    return obj["settings"]  # type: ignore[no-any-return]


class IsoDate(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-03-01")


class CaseId(click.ParamType):
    name = "CASE_ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> UUID:
        try:
            return UUID(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not a case id; a case id is the UUID that POST /v1/cases "
                "answered as case_id, e.g. 0b6f3d2e-5c1a-4f8e-9d7b-2a4c6e8f0a1b"
            )


def known_tenants(s: Settings) -> list[str]:
    from domain.catalogue import Catalogues

    return Catalogues.load(Path(s.catalogue_dir) if s.catalogue_dir else None).tenants


def check_tenant(s: Settings, tenant: str) -> None:
    tenants = known_tenants(s)
    if tenant not in tenants:
        raise CliError(
            f"unknown tenant {tenant!r}; use one the catalogue defines: {', '.join(tenants)}"
        )


# --- stores ------------------------------------------------------------------------------


def check_store(cfg: StoreConfig, *, must_exist: bool) -> None:
    """Fail fast, in one line, when the store cannot be used (instead of a pool timeout
    and a traceback): missing SQLite folder or file, PostgreSQL down or without the
    database."""
    where = f"(fix --database-url or CASELOG_DATABASE_URL; now {cfg.redacted_url})"
    if cfg.kind == "sqlite":
        path = Path(cfg.sqlite_path)
        if path.name == ":memory:":
            return
        if not path.parent.is_dir():
            raise CliError(
                f"no folder {path.parent} for the SQLite store; create it "
                f"(mkdir -p {path.parent}) or choose another path {where}"
            )
        if must_exist and not path.is_file():
            raise CliError(
                f"no store at {path}; load one with 'caselog demo' or point at yours {where}"
            )
        return
    import psycopg

    env = cfg.env
    server = f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"
    try:
        psycopg.connect(cfg.libpq_url, connect_timeout=3).close()
    except psycopg.OperationalError as e:
        reason = str(e)
        if f'database "{env["POSTGRES_DBNAME"]}" does not exist' in reason:
            raise CliError(
                f"PostgreSQL at {server} has no database {env['POSTGRES_DBNAME']!r}; create "
                f"it (createdb -h {env['POSTGRES_HOST']} -p {env['POSTGRES_PORT']} -U "
                f"{env['POSTGRES_USER']} {env['POSTGRES_DBNAME']}) {where}"
            ) from None
        if "authentication failed" in reason or "password" in reason:
            raise CliError(
                f"PostgreSQL at {server} refused user {env['POSTGRES_USER']!r}; check the "
                f"user and password in the URL {where}"
            ) from None
        detail = reason.split("\n")[0].split(": ")[-1].strip()
        raise CliError(
            f"cannot reach PostgreSQL at {server} ({detail}); start the server or {where[1:-1]}"
        ) from None


@contextmanager
def open_app(ctx: click.Context, *, must_exist: bool = True) -> Iterator[Any]:
    """The application on the configured store, closed afterwards."""
    from application.application import CaseLog

    cfg = store_config(settings(ctx).database_url)
    check_store(cfg, must_exist=must_exist)
    app = CaseLog(store=cfg)
    try:
        yield app
    finally:
        app.close()


@contextmanager
def open_views(ctx: click.Context) -> Iterator[Any]:
    """The read-model database (registry, projections' tables), closed afterwards."""
    from storage.views import ViewStore

    cfg = store_config(settings(ctx).database_url)
    check_store(cfg, must_exist=True)
    views = ViewStore(cfg)
    try:
        yield views
    finally:
        views.close()


# --- progress ----------------------------------------------------------------------------


@contextmanager
def progress_bar(label: str, unit: str | None = None) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr when it is a terminal; ``update(done, total)``. With
    ``unit`` (e.g. "events") it also shows the rate and the time remaining."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            elapsed = task.finished_time or task.elapsed
            speed = task.completed / elapsed if elapsed and task.completed else None
            return Text(f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s")

    console = Console(stderr=True)
    columns: list[Any] = [f"[bold]{label}", BarColumn(), MofNCompleteColumn()]
    if unit:
        columns += [Rate(), "ETA", TimeRemainingColumn()]
    with Progress(
        *columns,
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


def counted(items: Iterable[T], total: int, update: Callable[[int, int], None]) -> Iterator[T]:
    """Yield ``items`` and report each one to a progress bar."""
    for n, item in enumerate(items, 1):
        yield item
        update(n, total)
