"""What the projections need from the write side, as Protocols (the layers point down).

The runner, the iWmo outbox and the KPI queries read the event log and load cases; they
are given an object with exactly these methods (the application satisfies them, and mypy
checks that where it is passed) instead of importing the application, which sits above
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from domain.case import Case
from domain.catalogue import Catalogue
from domain.values import Actor
from storage.config import StoreConfig
from storage.eventstore import LogEntry


class CaseSource(Protocol):
    """The event log in order and the cases it builds (``projections.runner``,
    ``projections.outbox``)."""

    @property
    def store(self) -> StoreConfig: ...

    def select_notifications(self, start: int, limit: int) -> Sequence[LogEntry]: ...

    def max_notification_id(self) -> int: ...

    def to_domain_event(self, stored: Any) -> Any:
        """A log entry decoded into its event (``Case.Event``)."""
        ...

    def load_case(self, case_id: UUID, version: int | None = None) -> Case: ...

    def catalogue(self, tenant: str) -> Catalogue: ...


class CaseReader(Protocol):
    """Cases as recorded at an instant, and catalogues (``projections.queries``)."""

    def get_case(
        self,
        case_id: UUID,
        actor: Actor,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> Case: ...

    def catalogue(self, tenant: str) -> Catalogue: ...
