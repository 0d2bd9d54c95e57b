"""The caselog application: commands on cases and time-travel queries, on one event store.

Commands are ``verb_noun`` and return the case's new version. Each loads the case, checks
the actor's scope (tenant; provider's own cases), checks ``expected_version`` (If-Match) and
saves; a concurrent writer that saved first makes the save conflict, and the command is tried
again on the new state (its rules checked again) unless the caller pinned a version.
Queries are ``get_*`` and never write.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5
from zoneinfo import ZoneInfo

import msgspec

from application.group_commit import GroupCommitter, Job, Turns
from application.settings import configured_catalogues
from application.timeline import HeadCache, TimelineCache
from domain import facts as f
from domain.case import Case, CorrectionAsPosted
from domain.catalogue import Catalogue, Catalogues
from domain.errors import AlreadyApplied, CaseNotFound, DomainError, VersionMismatch
from domain.rules import convert_awbz
from domain.state import CaseState
from domain.values import Actor
from projections.derive import Derived
from projections.ports import CaseReader, CaseSource
from storage.config import StoreConfig, store_config
from storage.eventstore import (
    AggregateNotFoundError,
    CaseStore,
    RecordConflictError,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MAX_ATTEMPTS = 20
LOCK_STRIPES = 64


class ConcurrencyExhausted(DomainError):
    """The case kept changing under the command; the client may retry."""


def today() -> date:
    return datetime.now(AMSTERDAM).date()


class CaseLog(CaseStore):
    """Event-sourced case log for Wmo individual guidance."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        store: StoreConfig | None = None,
        catalogues: Catalogues | None = None,
        group_commit: bool = True,
        take_turns: bool = False,
    ) -> None:
        """``take_turns``: this process is one of several serving processes on one
        PostgreSQL database (``caselog serve --workers N``); their group committers take
        turns and refresh the cases they keep (``application.group_commit``)."""
        # Writers in this process queue per case (striped locks) instead of racing to a
        # conflict; the store's version check still guards writers in other processes.
        self._stripes = [threading.Lock() for _ in range(LOCK_STRIPES)]
        # the settings are read once, here: the domain and the projections read none
        self.catalogues = catalogues or configured_catalogues()
        super().__init__(store or store_config(), env)
        turns = (
            Turns(self.store.libpq_url, self.events_table())
            if take_turns and self.store.kind == "postgres"
            else None
        )
        self._committer = (
            GroupCommitter(
                load=self._load,
                check_scope=self._check_scope,
                catalogue=self.catalogue,
                save=self.save_grouped,
                retry=self._attempt,
                turns=turns,
                decode=self.decode_stored if turns is not None else None,
            )
            if group_commit
            else None
        )
        self.timelines = TimelineCache(self)
        self.heads = HeadCache(self)

    # --- commands ------------------------------------------------------------------------

    def open_case(
        self, actor: Actor, referral: f.Referral, case_id: UUID | None = None
    ) -> tuple[UUID, int]:
        """Open a case on a referral (aanmelding); the tenant is the actor's."""
        if referral.tenant != actor.tenant:
            referral = msgspec.structs.replace(referral, tenant=actor.tenant)
        if case_id is None:
            # With an Idempotency-Key the id follows from it, so a retry finds the case.
            case_id = (
                uuid5(NAMESPACE_URL, f"caselog:{actor.tenant}:{actor.request_key}")
                if actor.request_key
                else uuid4()
            )
        case = Case.open(actor, referral, self.catalogues.for_tenant(actor.tenant), case_id)
        try:
            self.save(case)
        except RecordConflictError:
            existing = self._load(case_id, actor)
            if actor.request_key and actor.request_key in existing.requests:
                return case_id, existing.requests[actor.request_key]
            raise
        return case.id, case.version

    def record(
        self,
        case_id: UUID,
        actor: Actor,
        fact: f.Fact,
        expected_version: int | None = None,
    ) -> int:
        """Record one fact (intake, indication, contact, ...) after its rules pass."""
        return self._execute(
            case_id, actor, expected_version, lambda case, cat: case.record(actor, fact, cat)
        )

    async def record_async(
        self,
        case_id: UUID,
        actor: Actor,
        fact: f.Fact,
        expected_version: int | None = None,
    ) -> int:
        """``record`` from an asyncio loop: handed to the group committer without a worker
        thread waiting for it (the HTTP write path)."""
        if self._committer is None:
            import anyio

            return await anyio.to_thread.run_sync(
                self.record, case_id, actor, fact, expected_version
            )
        return await self._committer.submit_async(
            Job(case_id, actor, expected_version, lambda case, cat: case.record(actor, fact, cat))
        )

    def request_change(
        self,
        case_id: UUID,
        actor: Actor,
        request: f.ChangeRequest,
        expected_version: int | None = None,
    ) -> int:
        """A provider's change request (R-19: with its report)."""
        return self.record(case_id, actor, request, expected_version)

    def decide_change(
        self,
        case_id: UUID,
        actor: Actor,
        decision: f.ChangeDecision,
        expected_version: int | None = None,
    ) -> int:
        """The municipality decides a change request; granted ones change the entitlement."""
        return self._execute(
            case_id,
            actor,
            expected_version,
            lambda case, cat: case.decide_change(actor, decision, cat),
        )

    def convert_awbz_indication(
        self,
        case_id: UUID,
        actor: Actor,
        *,
        awbz_class: int,
        function_codes: list[str],
        assignment_number: str,
        volume: Any,
        ends_on: date,
        expected_version: int | None = None,
    ) -> int:
        """R-05 technical conversion: the catalogue's table decides product and surcharge."""

        def convert(case: Case, cat: Catalogue) -> None:
            product, surcharge = convert_awbz(cat, awbz_class, function_codes)
            assert cat.conversion is not None
            fact = f.AwbzConversion(
                converted_on=cat.conversion.effective_on,
                awbz_class=awbz_class,
                function_codes=function_codes,
                assignment_number=assignment_number,
                product=product,
                surcharge=surcharge,
                volume=volume,
                starts_on=cat.conversion.effective_on,
                ends_on=ends_on,
            )
            case.record(actor, fact, cat)

        return self._execute(case_id, actor, expected_version, convert)

    def retract_event(
        self,
        case_id: UUID,
        actor: Actor,
        retraction: f.Retraction,
        expected_version: int | None = None,
    ) -> int:
        """Take an earlier event out of the count (it stays in the log)."""
        return self._execute(
            case_id, actor, expected_version, lambda c, cat: c.retract(actor, retraction, cat)
        )

    def correct_event(
        self,
        case_id: UUID,
        actor: Actor,
        correction: f.Correction | CorrectionAsPosted,
        expected_version: int | None = None,
    ) -> int:
        """Replace an earlier event's fact by a corrected one (the rules: ``Case.correct``)."""
        return self._execute(
            case_id, actor, expected_version, lambda c, cat: c.correct(actor, correction, cat)
        )

    def record_together(
        self,
        case_id: UUID,
        actor: Actor,
        steps: list[Callable[[Case, Catalogue, Actor], None]],
        referral: f.Referral | None = None,
    ) -> int:
        """Several commands on one case saved as one unit (an iWmo message applies per
        client as a whole or not at all). Each step is an aggregate command (``Case.record``,
        ``decide_change``, ``retract``, ``correct``) run with the actor it is given: only the
        last step carries the actor's request key, so a unit seen before is not applied
        again and answers the version it produced. With ``referral`` the case is opened by
        the same save."""
        keyless = msgspec.structs.replace(actor, request_key=None)

        def run(case: Case, cat: Catalogue) -> None:
            for n, step in enumerate(steps, 1):
                step(case, cat, actor if n == len(steps) else keyless)

        if referral is None:
            return self._execute(case_id, actor, None, run)
        if referral.tenant != actor.tenant:
            referral = msgspec.structs.replace(referral, tenant=actor.tenant)
        cat = self.catalogues.for_tenant(actor.tenant)
        case = Case.open(actor if not steps else keyless, referral, cat, case_id)
        run(case, cat)
        try:
            self.save(case)
        except RecordConflictError:
            existing = self._load(case_id, actor)
            if actor.request_key and actor.request_key in existing.requests:
                return existing.requests[actor.request_key]
            raise
        return case.version

    def _execute(
        self,
        case_id: UUID,
        actor: Actor,
        expected_version: int | None,
        command: Callable[[Case, Catalogue], None],
    ) -> int:
        if self._committer is not None:
            return self._committer.submit(Job(case_id, actor, expected_version, command))
        with self._stripes[hash(case_id) % LOCK_STRIPES]:
            return self._attempt(case_id, actor, expected_version, command)

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()
            self._committer = None
        super().close()

    def _attempt(
        self,
        case_id: UUID,
        actor: Actor,
        expected_version: int | None,
        command: Callable[[Case, Catalogue], None],
    ) -> int:
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, 0.002 * attempt))
            case = self._load(case_id, actor)
            try:
                case.check_new_request(actor)
            except AlreadyApplied as done:
                return done.version
            if expected_version is not None and case.version != expected_version:
                raise VersionMismatch(expected_version, case.version)
            command(case, self.catalogues.for_tenant(case.state.tenant))
            try:
                self.save(case)
            except RecordConflictError:
                if expected_version is not None:
                    raise VersionMismatch(expected_version, expected_version + 1) from None
                continue  # somebody saved first: judge the command again on the new state
            return case.version
        raise ConcurrencyExhausted(f"case {case_id} kept changing; try again")

    def import_cases(self, cases: Iterable[Case], chunk: int = 200, analyze: bool = True) -> int:
        """Bulk path for imports and demo data: aggregates built through their own commands
        (rules checked), saved ``chunk`` cases per transaction; then, unless ``analyze`` is
        False (a caller that imports in several calls analyzes once, after the last), the
        store's statistics refreshed (``CaseStore.analyze``). Returns the events saved."""
        saved = 0
        batch: list[Case] = []
        for case in cases:
            batch.append(case)
            if len(batch) >= chunk:
                saved += self.save_in_bulk(batch)
                batch = []
        if batch:
            saved += self.save_in_bulk(batch)
        if analyze and saved:
            self.analyze()
        return saved

    # --- queries --------------------------------------------------------------------

    def catalogue(self, tenant: str) -> Catalogue:
        """The tenant's contract catalogue (C-03: a tenant without one is refused)."""
        return self.catalogues.for_tenant(tenant)

    def _load(self, case_id: UUID, actor: Actor, version: int | None = None) -> Case:
        try:
            case = self.load_case(case_id, version)
        except AggregateNotFoundError:
            raise CaseNotFound(f"case {case_id} not found") from None
        self._check_scope(case.state, actor, case_id)
        return case

    def get_case_tenant(self, case_id: UUID) -> str:
        """The tenant a case belongs to, for operator tools that act on the system's own
        authority (never exposed over HTTP)."""
        try:
            case = self.load_case(case_id)
        except AggregateNotFoundError:
            raise CaseNotFound(f"case {case_id} not found") from None
        return case.state.tenant

    @staticmethod
    def _check_scope(state: CaseState, actor: Actor, case_id: UUID) -> None:
        """Everyone sees only their tenant; providers only their own cases (404, not 403,
        so existence does not leak)."""
        if not CaseLog.in_scope(state.tenant, state.provider, actor):
            raise CaseNotFound(f"case {case_id} not found")

    @staticmethod
    def in_scope(tenant: str, provider: str, actor: Actor) -> bool:
        """Whether ``actor`` may see a case of this tenant and provider."""
        return tenant == actor.tenant and (actor.role != "provider" or provider == actor.provider)

    def derived_head(self, case_id: UUID, actor: Actor) -> tuple[Case, Derived]:
        """The case at its head with its derivation, stepped from the last one this
        process derived (``HeadCache.derived``). Both are shared: never change them."""
        try:
            case, derived = self.heads.derived(case_id, self.catalogue)
        except AggregateNotFoundError:
            raise CaseNotFound(f"case {case_id} not found") from None
        self._check_scope(case.state, actor, case_id)
        return case, derived

    def get_case(
        self,
        case_id: UUID,
        actor: Actor,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> Case:
        """The case at a version, or as the system knew it at the recorded instant ``as_of``.

        A case's tenant and provider never change (the referral is not correctable), so the
        scope is checked on the version that is read. Reads of a past version or instant go
        through the time-travel cache (``application.timeline``); reads of the head through the
        head cache (a kept copy plus the events after it). The case returned is shared
        with other readers: never change it."""
        if version is None and as_of is None:
            try:
                head: Case = self.heads.get(case_id)
            except AggregateNotFoundError:
                raise CaseNotFound(f"case {case_id} not found") from None
            self._check_scope(head.state, actor, case_id)
            return head
        line = self.timelines.get(case_id)
        if line is None:
            raise CaseNotFound(f"case {case_id} not found")
        self._check_scope(line.head.state, actor, case_id)
        if as_of is not None:
            known = line.version_at(as_of)
            if known is None:
                raise CaseNotFound(f"case {case_id} was not recorded yet at {as_of.isoformat()}")
            version = known if version is None else min(version, known)
        assert version is not None
        with line.lock:
            case: Case = line.at_version(version)
        return case

    def get_state_on(
        self, case_id: UUID, actor: Actor, on: date, *, as_of: datetime | None = None
    ) -> CaseState | None:
        """What was true on business date ``on``, by what was recorded at ``as_of``."""
        return self.get_case(case_id, actor, as_of=as_of).state_on(on)

    def get_history(
        self, case_id: UUID, actor: Actor, *, as_of: datetime | None = None
    ) -> list[Any]:
        """Every event of the case, oldest first (up to ``as_of`` when given)."""
        self.get_case(case_id, actor)  # scope
        events = self.case_events(case_id)
        if as_of is None:
            return events
        return [e for e in events if e.timestamp <= as_of]

    def iter_events(self, start: int = 1, limit: int = 1000) -> Iterator[Any]:
        """The whole log in notification order, for projections and audits."""
        for n in self.select_notifications(start, limit):
            yield n, self.to_domain_event(n)


if TYPE_CHECKING:  # the projections read through these ports; mypy checks CaseLog fits them

    def _fits_the_projections_ports(app: CaseLog) -> tuple[CaseSource, CaseReader]:
        return app, app
