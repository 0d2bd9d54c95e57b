"""The command line as a user meets it: every mistake ends with one line on stderr naming
the problem and the fix, a non-zero exit code and no traceback; options work before and
after the subcommand; configuration comes from the environment or a .env file."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from caselog.cli import main

ROOT = Path(__file__).resolve().parents[2]
CASE = "3f2c0000-0000-0000-0000-000000000000"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    """The error contract: exactly one line, prefixed, no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("caselog: "), err
    assert "Traceback" not in err
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def loaded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A SQLite store with two demo cases."""
    url = f"sqlite:///{tmp_path / 'loaded.db'}"
    assert main(["demo", "--cases", "2", "--database-url", url]) == 0
    capsys.readouterr()
    return url


@pytest.fixture(autouse=True)
def _no_caselog_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CASELOG_") and name != "CASELOG_TEST_PG":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env; ./caselog.db lands here


# --- mistakes: one line, the fix, non-zero -----------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["history", "not-a-uuid"], 2, "is not a case id"),
        (["history", CASE], 1, "no case 3f2c0000"),
        (["demo", "--cases", "2"], 1, "already holds events"),
        (["retention", "report", "--on", "2024-13-01"], 2, "write it as YYYY-MM-DD"),
        (["projections", "rebuild", "nope"], 1, "choose from kpis"),
    ],
    ids=[
        "malformed-id",
        "unknown-case",
        "demo-on-non-empty-store",
        "bad-date",
        "unknown-projection",
    ],
)
def test_a_mistake_on_a_store_is_one_line_with_the_fix(
    capsys: pytest.CaptureFixture[str], loaded: str, argv: list[str], code: int, says: str
) -> None:
    got, _, err = run(capsys, *argv, "--database-url", loaded)
    assert got == code
    assert says in one_line(err)


def test_demo_with_zero_cases_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", "--cases", "0")
    assert code == 2
    assert "--cases" in one_line(err)
    assert not Path("caselog.db").exists(), "nothing is created for a refused command"


def test_a_missing_sqlite_folder_names_the_mkdir(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "demo", "--database-url", f"sqlite:///{tmp_path}/no/such/x.db")
    assert code == 1
    assert f"mkdir -p {tmp_path}/no/such" in one_line(err)


def test_a_missing_sqlite_store_is_not_created_by_a_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    code, _, err = run(capsys, "history", CASE, "--database-url", url)
    assert code == 1
    assert "no store at" in one_line(err)
    assert not (tmp_path / "absent.db").exists()


def test_unreachable_postgresql_is_one_line_within_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/caselog"
    code, _, err = run(capsys, "projections", "status", "--database-url", url)
    assert code == 1
    assert "cannot reach PostgreSQL" in one_line(err)
    assert "start the server" in err
    assert time.monotonic() - started < 10


@pytest.mark.postgres
def test_a_missing_postgresql_database_names_createdb(
    capsys: pytest.CaptureFixture[str], pg_server: str
) -> None:
    url = pg_server.rsplit("/", 1)[0] + "/caselog_no_such_database"
    code, _, err = run(capsys, "demo", "--database-url", url)
    assert code == 1
    assert "createdb" in one_line(err)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--role", "municipality", "--tenant", "nowhere"], "unknown tenant 'nowhere'"),
        (["--role", "municipality", "--tenant", "zou", "--ttl", "-5"], "--ttl"),
        (["--role", "municipality", "--tenant", "zou", "--ttl", "0"], "--ttl"),
        (["--role", "auditor", "--tenant", "zou", "--provider", "a"], "only for --role provider"),
        (["--role", "provider", "--tenant", "zou"], "needs --provider"),
        (["--role", "king", "--tenant", "zou"], "--role"),
    ],
    ids=[
        "unknown-tenant",
        "negative-ttl",
        "zero-ttl",
        "provider-for-auditor",
        "no-provider",
        "role",
    ],
)
def test_token_refuses_what_would_not_work(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, out, err = run(capsys, "token", *argv)
    assert code != 0
    assert out == ""
    assert says in one_line(err)


def test_a_bad_setting_stops_with_the_variable_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASELOG_POOL_SIZE", "many")
    code, _, err = run(capsys, "demo")
    assert code == 2
    assert "CASELOG_POOL_SIZE" in one_line(err)


def test_unknown_command_and_option_point_at_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "histroy")
    assert code == 2
    assert "caselog --help" in one_line(err)
    code, _, err = run(capsys, "demo", "--casse", "3")
    assert code == 2
    assert "caselog demo --help" in one_line(err)


# --- clients erase: confirmation ---------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_erase_without_a_terminal_or_yes_is_refused(
    capsys: pytest.CaptureFixture[str], loaded: str
) -> None:
    code, _, err = run(
        capsys, "clients", "erase", "zou-1", "--tenant", "zou", "--database-url", loaded
    )
    assert code == 1
    assert "pass --yes" in one_line(err)


def test_erase_asks_and_a_no_changes_nothing(
    capsys: pytest.CaptureFixture[str], loaded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, out, err = run(
        capsys, "clients", "erase", "zou-1", "--tenant", "zou", "--database-url", loaded
    )
    assert code == 1
    assert "aborted; nothing was changed" in err
    assert "erased" not in out
    # confirmed on the terminal: it runs, and says nothing matched
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    code, out, _ = run(
        capsys, "clients", "erase", "zou-1", "--tenant", "zou", "--database-url", loaded
    )
    assert code == 0
    assert "nothing matched" in out


def test_erase_with_yes_says_when_nothing_matched_and_refuses_an_unknown_tenant(
    capsys: pytest.CaptureFixture[str], loaded: str
) -> None:
    code, out, _ = run(
        capsys, "clients", "erase", "zou-9", "--tenant", "zou", "--yes", "--database-url", loaded
    )
    assert code == 0
    assert "nothing matched: no client zou-9" in out
    code, _, err = run(
        capsys, "clients", "erase", "zou-9", "--tenant", "mars", "--yes", "--database-url", loaded
    )
    assert code == 1
    assert "unknown tenant" in one_line(err)


# --- what works ----------------------------------------------------------------------------


def test_options_before_and_after_the_subcommand_and_from_a_dotenv_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = f"sqlite:///{tmp_path / 'before.db'}"
    after = f"sqlite:///{tmp_path / 'after.db'}"
    assert main(["--database-url", before, "demo", "--cases", "1"]) == 0
    assert main(["demo", "--cases", "1", "--database-url", after]) == 0
    assert (tmp_path / "before.db").exists()
    assert (tmp_path / "after.db").exists()
    # .env in the working directory; an option still wins over it
    (tmp_path / ".env").write_text(f"CASELOG_DATABASE_URL=sqlite:///{tmp_path / 'dotenv.db'}\n")
    capsys.readouterr()
    assert main(["demo", "--cases", "1"]) == 0
    assert "dotenv.db" in capsys.readouterr().out
    code, out, _ = run(capsys, "projections", "status", "--database-url", before)
    assert code == 0
    assert "kpis" in out


def test_token_prints_a_token_the_api_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    from api.auth import TokenVerifier

    code, out, err = run(
        capsys, "token", "--role", "provider", "--tenant", "zou", "--provider", "a"
    )
    assert code == 0
    assert "development secret" in err  # said once, on stderr, not in the token
    actor = TokenVerifier("caselog-development-secret-change-me-0123456789").actor(
        f"Bearer {out.strip()}"
    )
    assert (actor.role, actor.tenant, actor.provider) == ("provider", "zou", "a")


def test_help_lists_every_command_and_the_iwmo_group(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in (
        "serve",
        "demo",
        "history",
        "token",
        "projections",
        "clients",
        "retention",
        "iwmo",
    ):
        assert f"  {command}" in out


def _caselog(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "caselog", *argv], capture_output=True, text=True, env=env,
        timeout=60, check=False,
    )  # fmt: skip


def test_python_dash_m_caselog_prints_the_version() -> None:
    from importlib.metadata import version

    done = _caselog("--version")
    assert done.returncode == 0
    assert version("wmo-caselog") in done.stdout


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CASELOG_JWT_SECRET": "s" * 40}
    proc = subprocess.Popen(
        [sys.executable, "-m", "caselog", "serve", "--port", str(port),
         "--database-url", f"sqlite:///{tmp_path / 'served.db'}", "--log-level", "info"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_says_where_it_listens_and_logs_json_when_not_on_a_terminal(
    served: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = served
    assert proc.stderr is not None
    assert proc.stdout is not None
    banner = proc.stderr.readline()  # blocks until the server listens (or dies)
    assert f"listening on http://127.0.0.1:{port}" in banner
    assert httpx.get(f"http://127.0.0.1:{port}/health?probe=1", timeout=5).status_code == 200
    line = json.loads(proc.stdout.readline())  # stdout is a pipe: JSON lines
    assert line["path"] == "/health"
    assert line["query"] == "probe=1"
    # a second service on the same port: one line, not a traceback
    taken = _caselog("serve", "--port", str(port), "--database-url", "sqlite:///taken.db")
    assert taken.returncode != 0
    assert "choose another --port" in one_line(taken.stderr)


def test_logs_are_readable_lines_on_a_terminal_and_json_otherwise() -> None:
    import pty

    script = (
        "import structlog; from api.conventions import configure_logging; "
        "configure_logging(level='info'); "
        "structlog.get_logger('t').info('request', path='/health', query='on=2024-01-01')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    primary, secondary = pty.openpty()
    try:
        subprocess.run(
            [sys.executable, "-c", script], stdout=secondary, env=env, timeout=60, check=True
        )
        on_terminal = os.read(primary, 4096).decode()
    finally:
        os.close(primary)
        os.close(secondary)
    assert "request" in on_terminal
    assert not on_terminal.lstrip().startswith("{")
    piped = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, timeout=60, check=True)  # fmt: skip
    assert json.loads(piped.stdout)["query"] == "on=2024-01-01"


def test_rebuild_swaps_in_fresh_tables_and_prints_the_rate(
    capsys: pytest.CaptureFixture[str], loaded: str
) -> None:
    code, out, _ = run(capsys, "projections", "rebuild", "--database-url", loaded)
    assert code == 0
    assert "events/s)" in out
    code, out, _ = run(capsys, "projections", "status", "--database-url", loaded)
    assert code == 0
    assert all(line.rstrip().endswith("lag        0") for line in out.strip().splitlines())


@pytest.mark.postgres
def test_rebuild_on_postgresql_with_workers(
    capsys: pytest.CaptureFixture[str], pg_url: str
) -> None:
    assert main(["demo", "--cases", "3", "--database-url", pg_url]) == 0
    capsys.readouterr()
    code, out, _ = run(
        capsys, "projections", "rebuild", "kpis", "--workers", "2", "--database-url", pg_url
    )
    assert code == 0
    assert out.startswith("rebuilt kpis: ")
