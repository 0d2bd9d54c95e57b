"""Batch import of iWmo messages: ``caselog iwmo import FILE|DIR...``.

Every file is one message, applied exactly as POST /v1/iwmo/messages applies it (the same
ledger, so a file imported twice, or imported and also POSTed, is applied once) on behalf
of its Afzender: the municipality of its gemeentecode, or the provider of its AGB code in
the region of its Ontvanger. Its answer is written beside it (``NAME.retour.xml``) or into
``out``. Messages of one client keep their order (a 301 before its 305); different clients
run in parallel so the group committer can batch their writes.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from application.application import CaseLog
from domain.catalogue import Catalogues
from domain.values import Actor
from iwmo import codec, xml
from iwmo import messages as m
from iwmo.inbound import Inbound
from iwmo.ledger import receive_once
from storage.views import ViewStore

RETOUR_SUFFIX = ".retour.xml"


@dataclass
class Summary:
    """What an import did: answers by retour code, files that could not be applied."""

    files: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    refused: dict[str, str] = field(default_factory=dict)
    replayed: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [f"{self.files} messages in {self.seconds:.1f}s"]
        out += [f"  {code}: {n}" for code, n in sorted(self.codes.items())]
        if self.replayed:
            out.append(f"  answered before (resent): {self.replayed}")
        out += [f"  not applied: {name}: {why}" for name, why in sorted(self.refused.items())]
        return out


def message_files(paths: Iterable[Path]) -> list[Path]:
    """The message files named, folders expanded to their ``*.xml`` (retours skipped)."""
    files: list[Path] = []
    for path in paths:
        found = sorted(path.glob("*.xml")) if path.is_dir() else [path]
        files += [p for p in found if not p.name.endswith(RETOUR_SUFFIX)]
    return files


def sender(catalogues: Catalogues, message: m.Bericht) -> Actor | None:
    """The actor a message is applied for, from its Afzender (None: not in any region)."""
    header = message.header  # type: ignore[attr-defined]
    if m.KINDS[message.KIND][1] == "municipality":
        found = catalogues.by_gemeentecode(header.afzender)
        if found is None:
            return None
        return Actor(sub="caselog-iwmo-import", role="municipality", tenant=found[0].tenant)
    found = catalogues.by_gemeentecode(header.ontvanger)
    provider = found[0].provider_for_agb(header.afzender) if found else None
    if found is None or provider is None:
        return None
    return Actor(
        sub="caselog-iwmo-import", role="provider", tenant=found[0].tenant, provider=provider
    )


def answer_codes(data: bytes) -> list[str]:
    answer = codec.decode(data)
    if isinstance(answer, m.Retour):
        return sorted(answer.all_codes())
    assert isinstance(answer, m.Wmo325)
    codes = list(answer.header.retour_codes)
    if answer.declaratie_antwoord is not None:
        for client in answer.declaratie_antwoord.clienten or []:
            codes += [c for p in client.prestaties for c in p.retour_codes]
    return sorted(set(codes))


def import_messages(
    paths: Iterable[Path],
    *,
    app: CaseLog,
    views: ViewStore,
    pseudonym_key: bytes,
    today: date,
    out: Path | None = None,
    workers: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Apply every message file and write its answer; see the module docstring."""
    started = time.perf_counter()
    summary = Summary()
    files = message_files(paths)
    summary.files = len(files)
    inbound = Inbound(app, views, pseudonym_key)
    by_client: dict[str, list[tuple[Path, bytes, m.Bericht, Actor]]] = defaultdict(list)
    done = 0
    for path in files:
        body = path.read_bytes()
        try:
            message = codec.decode(body)
        except (xml.NotWellFormed, codec.NotIwmo, codec.SchemaError) as error:
            summary.refused[str(path)] = str(error)
            continue
        actor = sender(app.catalogues, message) if isinstance(message, m.Bericht) else None
        if actor is None or not isinstance(message, m.Bericht):
            summary.refused[str(path)] = "not a heen message of a known municipality/provider"
            continue
        client = getattr(message, "client", None)
        by_client[getattr(client, "bsn", "") or str(path)].append((path, body, message, actor))
    done = len(summary.refused)

    def run(batch: list[tuple[Path, bytes, m.Bericht, Actor]]) -> list[tuple[Path, bytes, bool]]:
        results = []
        for path, body, message, actor in batch:
            data, replayed = receive_once(inbound, views, actor, message, body, today)
            target = (out or path.parent) / (path.stem + RETOUR_SUFFIX)
            target.write_bytes(data)
            results.append((path, data, replayed))
        return results

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for results in pool.map(run, by_client.values()):
            for _, data, replayed in results:
                summary.codes.update(answer_codes(data))
                summary.replayed += replayed
            done += len(results)
            if progress is not None:
                progress(done, summary.files)
    summary.seconds = time.perf_counter() - started
    return summary
