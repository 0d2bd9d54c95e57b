"""``caselog iwmo import``: files applied as the endpoint applies them, answers beside them,
a summary of retour codes, order kept per client, a second import applied once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from application.application import CaseLog
from caselog import cli
from iwmo import codec
from iwmo import examples as ex
from iwmo.cli import import_messages
from storage.config import store_config
from storage.views import ViewStore

START = date(2026, 1, 5)
END = date(2026, 12, 31)


def write_messages(folder: Path, clients: int) -> None:
    """Per client a 301, a 305 and a 307, named so that a plain sort keeps that order."""
    for n in range(clients):
        bsn = ex_bsn(n)
        number = f"T{n}"
        msgs = [
            ex.wmo301(f"G{n}", START, ex.assignment(number, START, END), bsn=bsn),
            ex.wmo305(f"S{n}", START, number, START, START, bsn=bsn),
            ex.wmo307(f"E{n}", date(2026, 3, 1), number, START, START, date(2026, 3, 1), bsn=bsn),
        ]
        for i, message in enumerate(msgs):
            (folder / f"{i}-{n:04d}.xml").write_bytes(codec.encode(message))


def ex_bsn(n: int) -> str:
    head = f"{10_000_000 + n * 7:08d}"
    while True:
        check = sum(int(d) * w for d, w in zip(head, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            return head + str(check)
        head = f"{int(head) + 1:08d}"


@pytest.fixture
def world(tmp_path: Path):
    app = CaseLog(store=store_config(f"sqlite:///{tmp_path / 'caselog.db'}"))
    views = ViewStore(app.store)
    yield app, views
    views.close()
    app.close()


def run_import(world, paths: list[Path], **kw):
    app, views = world
    return import_messages(
        paths,
        app=app,
        views=views,
        pseudonym_key=b"k",
        today=date(2026, 11, 23),
        **kw,
    )


def test_import_applies_every_file_once_and_writes_the_answers_beside_them(
    world, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_messages(folder, clients=5)
    (folder / "broken.xml").write_bytes(b"<Bericht")
    seen: list[tuple[int, int]] = []
    summary = run_import(world, [folder], progress=lambda d, t: seen.append((d, t)))
    assert summary.files == 16
    assert summary.codes == {"0200": 15}
    assert list(summary.refused) == [str(folder / "broken.xml")]
    assert len(list(folder.glob("*.retour.xml"))) == 15
    assert seen[-1] == (16, 16)
    app, _ = world
    events = len(list(app.recorder.select_notifications(1, 1000)))
    assert events == 5 * 4  # opened, granted, started, ended
    again = run_import(world, [folder])
    assert again.replayed == 15
    assert len(list(app.recorder.select_notifications(1, 1000))) == events


def test_answers_go_to_the_out_folder_and_the_command_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    write_messages(folder, clients=2)
    monkeypatch.setenv("CASELOG_JWT_SECRET", "cli-test-secret-" + "x" * 20)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    code = cli.main(["--database-url", url, "iwmo", "import", str(folder), "--out", str(out)])
    assert code == 0
    assert len(list(out.glob("*.retour.xml"))) == 6
    printed = capsys.readouterr().out
    assert "6 messages" in printed
    assert "0200: 6" in printed
