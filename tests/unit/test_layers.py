"""The import graph points down (docs/architecture.md). Lowest first:

    domain < storage < projections < application < iwmo < api < caselog (command line)

A package imports only packages below it; any upward import fails here, lazy imports
inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
LAYERS = ("domain", "storage", "projections", "application", "iwmo", "api", "caselog")

#: layer -> the packages it must never import (every layer above it)
FORBIDDEN: dict[str, set[str]] = {layer: set(LAYERS[i + 1 :]) for i, layer in enumerate(LAYERS)}


def imports(path: Path) -> set[str]:
    """Every absolute module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def edges(root: Path = ROOT) -> set[tuple[str, str, str]]:
    """(file, its layer, imported module) for every import of one of our packages."""
    out = set()
    for layer in LAYERS:
        for path in (root / layer).rglob("*.py"):
            for module in imports(path):
                if module.split(".")[0] in LAYERS:
                    out.add((path.relative_to(root).as_posix(), layer, module))
    return out


def upward(root: Path, layer: str) -> list[tuple[str, str]]:
    """(file, module) for each import of ``layer`` that reaches a layer above it."""
    return sorted(
        (path, module)
        for path, lay, module in edges(root)
        if lay == layer and module.split(".")[0] in FORBIDDEN[layer]
    )


def test_the_import_finder_sees_imports_at_the_top_and_inside_functions() -> None:
    found = edges()
    assert ("api/cases.py", "api", "domain.case") in found
    assert ("projections/runner.py", "projections", "storage.views") in found
    assert ("projections/rebuild.py", "projections", "projections.runner") in found  # lazy


def test_every_package_of_the_project_is_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    # migrations/ holds SQL only; bench/ and tests/ sit outside the product and may import all
    assert packages - {"migrations", "bench", "tests"} == set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_no_layer_imports_a_layer_above_it(layer: str) -> None:
    found = upward(ROOT, layer)
    assert found == [], f"{layer} imports from above: {found}"


@pytest.mark.parametrize(
    ("where", "line"),
    [
        ("domain/case.py", "from storage.config import StoreConfig"),
        ("storage/views.py", "import projections.runner"),
        ("projections/runner.py", "def f():\n    from application.application import CaseLog"),
        ("application/demo.py", "from iwmo import codec"),
        ("iwmo/codec.py", "from api.problems import problem"),
        ("api/app.py", "from caselog.cli import main"),
    ],
)
def test_an_upward_import_is_caught_at_the_top_or_inside_a_function(
    tmp_path: Path, where: str, line: str
) -> None:
    # given a tree where every layer is clean but one file reaches up
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "__init__.py").write_text("import domain\n")
    (tmp_path / where).write_text(f"import domain\n{line}\n")
    # when its layer is checked, then that import is reported
    layer = where.split("/")[0]
    assert [path for path, _ in upward(tmp_path, layer)] == [where]
