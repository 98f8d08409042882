"""The layering the README promises, checked on the source: domain logic knows nothing of HTTP
frameworks or storage, and the quota tracker knows nothing of the engine that asks it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import chain429

PACKAGE = Path(chain429.__file__).parent

# package -> what none of its modules may import (our packages by name, libraries by top name)
FORBIDDEN = {
    "quota": {"engine", "http", "storage", "dialects", "aiohttp", "sqlalchemy"},
    "engine": {"http", "storage", "aiohttp", "sqlalchemy"},
    "dialects": {"engine", "http", "storage", "quota", "aiohttp", "sqlalchemy"},
    "vocabulary": {"engine", "quota", "http", "storage", "aiohttp", "sqlalchemy"},
}


def imported(path: Path) -> set[str]:
    """Our packages (`chain429.X` -> X) and libraries (top name) a module imports, lazily or not."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            names.add(parts[1] if parts[0] == "chain429" and len(parts) > 1 else parts[0])
    return names


def modules_of(layer: str) -> list[Path]:
    single = PACKAGE / f"{layer}.py"
    return [single] if single.exists() else sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    found = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules_of(layer)
        for name in imported(path) & FORBIDDEN[layer]
    }
    assert modules_of(layer)
    assert sorted(found) == []


def test_the_check_sees_lazy_imports() -> None:
    # The rule must hold for imports inside functions too: that is how the heavy ones are made.
    source = PACKAGE / "http" / "stats_api.py"
    assert {"storage", "aiohttp"} <= imported(source)
