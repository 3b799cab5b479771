"""The dependency rule, enforced: the domain imports the standard library only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FEATURE_MODULES = [p for p in (ROOT / "api").glob("*.py") if p.name not in ("app.py", "cli.py", "seed.py")]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"domain", "__future__"}
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) - allowed)
        for path in (ROOT / "domain").rglob("*.py")
        if _imports(path) - allowed
    }
    assert offenders == {}


def test_resolvers_never_reach_for_persistence() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in FEATURE_MODULES if "persistence" in _imports(p)]
    assert offenders == []


def test_the_rule_would_catch_a_slip(tmp_path: Path) -> None:
    slip = tmp_path / "slip.py"
    slip.write_text("from persistence.tables import AccountRow\nimport sqlalchemy\n")
    assert {"persistence", "sqlalchemy"} <= _imports(slip)
