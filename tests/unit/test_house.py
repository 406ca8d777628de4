"""The house rules of core/: a lower floor never imports a higher one, and only core.db imports DuckDB."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
# Floors from the bottom up; a package may import its own floor and those below it.
FLOORS = ("db", "access", "library", "practice", "sessions", "analytics", "sharing", "commands")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "core":
                found |= {f"core.{alias.name}" for alias in node.names}
    return found


def _floor(module: str) -> int | None:
    parts = module.split(".")
    return FLOORS.index(parts[1]) if len(parts) > 1 and parts[0] == "core" and parts[1] in FLOORS else None


def test_no_floor_imports_a_higher_one() -> None:
    wrong = []
    for path in CORE.rglob("*.py"):
        own = _floor("core." + ".".join(path.relative_to(CORE).with_suffix("").parts))
        if own is None:
            continue
        for module in _imports(path):
            other = _floor(module)
            if other is not None and other > own:
                wrong.append(f"{path.relative_to(CORE)} imports {module}")
    assert not wrong


def test_only_the_db_package_imports_duckdb() -> None:
    outside = [str(p.relative_to(CORE)) for p in CORE.rglob("*.py")
               if p.relative_to(CORE).parts[0] != "db" and any(m.split(".")[0] == "duckdb" for m in _imports(p))]
    assert not outside


def test_every_floor_is_a_package() -> None:
    assert all((CORE / floor / "__init__.py").exists() for floor in FLOORS)
