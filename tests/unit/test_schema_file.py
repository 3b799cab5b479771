"""schema.graphql is what the code exports, and it keeps every part of the contract."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import build_schema, find_breaking_changes, find_dangerous_changes

from api.schema import schema

ROOT = Path(__file__).resolve().parents[2]
# The shared contract when it sits beside the checkout (as in CI), else the copy kept here.
_SHARED = ROOT.parent / "shared" / "contract.graphql"
CONTRACT = _SHARED if _SHARED.exists() else ROOT / "tests" / "contract.graphql"


def test_schema_graphql_is_the_exported_schema() -> None:
    exported = (ROOT / "schema.graphql").read_text()
    assert exported == schema.as_str() + "\n", "run `make schema` and commit schema.graphql"


def test_the_exported_schema_loses_nothing_of_the_contract() -> None:
    contract = build_schema(CONTRACT.read_text())
    ours = build_schema(schema.as_str())
    assert [change.description for change in find_breaking_changes(contract, ours)] == []
    changed_defaults = [c.description for c in find_dangerous_changes(contract, ours)
                        if "default" in c.description and not _same_number(c.description)]
    assert changed_defaults == []


def _same_number(change: str) -> bool:
    """A Float default of 3.0 is printed as 3 (graphql-core drops the ".0"): the same default."""
    found = re.search(r"from (\S+) to (\S+)\.$", change)
    try:
        return found is not None and float(found.group(1)) == float(found.group(2))
    except ValueError:
        return False
