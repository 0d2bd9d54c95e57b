"""Which lifecycle rules each kind of event passed before it was recorded, derived from the
checks themselves (docs/rules.md): never a list kept by hand beside them.

Each event type names the check functions of ``domain.rules`` its command runs. The rule
ids are read from those functions' source: every ``RuleViolation``/``InvalidValue`` they
raise with a literal id, through the checks they call, plus what the catalogue refuses for
a product (C-03, and the validity rule the catalogue data names, such as R-04).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from functools import cache
from typing import Any

from domain import rules
from domain.case import EVENT_FOR_FACT
from domain.catalogue import default_catalogues

_REFUSALS = frozenset({"RuleViolation", "InvalidValue"})


@cache
def _rules_by_function() -> dict[str, frozenset[str]]:
    """Rule ids each function of ``domain.rules`` may raise, its callees' included."""
    tree = ast.parse(inspect.getsource(rules))
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for name, node in functions.items():
        direct[name], calls[name] = set(), set()
        for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
            callee = call.func
            called = (
                callee.id
                if isinstance(callee, ast.Name)
                else callee.attr
                if isinstance(callee, ast.Attribute)
                else ""
            )
            if called in _REFUSALS and call.args and isinstance(call.args[0], ast.Constant):
                direct[name].add(str(call.args[0].value))
            elif called in functions:
                calls[name].add(called)
            elif called == "product" and isinstance(callee, ast.Attribute):
                direct[name] |= _catalogue_product_rules()
    closed: dict[str, frozenset[str]] = {}

    def close(name: str, seen: frozenset[str]) -> frozenset[str]:
        if name not in closed:
            found = set(direct[name])
            for callee in calls[name] - seen:
                found |= close(callee, seen | {name})
            closed[name] = frozenset(found)
        return closed[name]

    return {name: close(name, frozenset({name})) for name in functions}


def _catalogue_product_rules() -> set[str]:
    """``Catalogue.product`` refuses an unknown product (C-03) or one not valid on the date
    with the rule its catalogue entry names."""
    catalogues = default_catalogues()
    found = {"C-03"}
    for tenant in catalogues.tenants:
        found |= {p.validity_rule for p in catalogues.for_tenant(tenant).products}
    return found


def rules_of(*checks: Callable[..., Any]) -> list[str]:
    """The rule ids the given checks of ``domain.rules`` may refuse with, sorted."""
    by_function = _rules_by_function()
    return sorted(set().union(*(by_function[check.__name__] for check in checks)))


def checks_before() -> dict[str, tuple[Callable[..., Any], ...]]:
    """The checks each event type's command runs before it is recorded (``domain.case``)."""
    checks: dict[str, tuple[Callable[..., Any], ...]] = {
        "CaseOpened": (rules.check_referral,),
        "ChangeDecided": (rules.check_change_decision,),
        "EventRetracted": (
            rules.check_correction_target,
            rules.check_consistent,
            rules.check_care_within_span,
        ),
        "EventCorrected": (
            rules.check_correction_target,
            rules.check_replacement_kind,
            rules.check_consistent,
            rules.check_care_within_span,
        ),
    }
    for kind, event in EVENT_FOR_FACT.items():
        checks[event.__name__] = (rules.CHECK_FOR_FACT[kind],)
    checks["CaseEnded"] = (*checks["CaseEnded"], rules.check_care_within_span)
    return checks


#: Event type -> the rule ids checked before it was recorded (the dispute replay shows them).
RULES_CHECKED: dict[str, list[str]] = {
    event: rules_of(*checks) for event, checks in checks_before().items()
}
