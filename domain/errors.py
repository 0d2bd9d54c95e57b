"""One family of domain errors; the API maps each kind to its status once."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the domain or the application makes."""

    rule: str = ""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RuleViolation(DomainError):
    """A command breaks a lifecycle rule (HTTP 409). ``rule`` is the id in docs/rules.md."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule


class InvalidValue(RuleViolation):
    """A well-formed command with an impossible value (HTTP 422), still with its rule id.

    ``field`` names the body field at fault (e.g. ``ends_on`` when it lies before
    ``starts_on``), so the problem document can list it."""

    def __init__(self, rule: str, detail: str, field: str | None = None) -> None:
        super().__init__(rule, detail)
        self.field = field


class CaseNotFound(DomainError):
    """No such case, or not visible to this actor (HTTP 404: existence is not leaked)."""


class VersionMismatch(DomainError):
    """``If-Match`` named a version the case is no longer at (HTTP 412)."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"case is at version {actual}, not {expected}")
        self.expected, self.actual = expected, actual


class AlreadyApplied(DomainError):
    """This request (its Idempotency-Key) was applied before, as ``version``: not an error
    for the client, who gets the first answer again."""

    def __init__(self, case_id: object, version: int) -> None:
        super().__init__(f"request already applied as version {version}")
        self.case_id = case_id
        self.version = version
