"""The import graph points down (docs/architecture.md): domain below projections below the
application, the HTTP API and the command line. Any upward import fails here, lazy imports
inside functions included.

What holds today and is asserted: ``domain`` imports nothing of ``projections``, ``api``,
``caselog`` or ``iwmo``; ``projections`` nothing of ``api`` or ``iwmo``; ``iwmo`` nothing of
``api``; ``caselog`` nothing of ``api`` except its command line (``caselog/cli``, the
top-level entry point above the API). What does not hold yet: ``projections`` reaches into
``caselog`` in three places (the store's configuration, and the case loader the runner and
the outbox use); that list is pinned below, so it can shrink but never grow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGES = ("domain", "projections", "api", "caselog", "iwmo")

#: layer -> the packages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "domain": {"projections", "api", "caselog", "iwmo"},
    "projections": {"api", "iwmo"},
    "iwmo": {"api"},
    "caselog": {"api"},
}

#: projections -> caselog imports that exist today (issue 14 item 1 removes them).
KNOWN_PROJECTIONS_TO_CASELOG = {
    ("storage/views.py", "storage.config"),
    ("projections/runner.py", "application.application"),
    ("projections/outbox.py", "application.application"),
}


def imports(path: Path) -> set[str]:
    """Every absolute module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def layer_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[:2] == ("caselog", "cli"):
        return "caselog.cli"  # the command line sits above the API
    return rel.parts[0]


def edges() -> set[tuple[str, str, str]]:
    """(file, its layer, imported module) for every import of one of our packages."""
    out = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for module in imports(path):
                if module.split(".")[0] in PACKAGES:
                    out.add((str(path.relative_to(ROOT)), layer_of(path), module))
    return out


def test_the_import_finder_sees_imports_at_the_top_and_inside_functions() -> None:
    found = edges()
    assert ("api/cases.py", "api", "domain.case") in found
    assert ("projections/runner.py", "projections", "application.application") in found  # lazy


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_a_layer_above_it(layer: str) -> None:
    upward = sorted(
        (path, module)
        for path, lay, module in edges()
        if lay == layer and module.split(".")[0] in FORBIDDEN[layer]
    )
    assert upward == [], f"{layer} imports from above: {upward}"


def test_projections_reach_into_caselog_only_where_they_did_already() -> None:
    found = {
        (path, module)
        for path, layer, module in edges()
        if layer == "projections" and module.split(".")[0] == "caselog"
    }
    assert found <= KNOWN_PROJECTIONS_TO_CASELOG, found - KNOWN_PROJECTIONS_TO_CASELOG
