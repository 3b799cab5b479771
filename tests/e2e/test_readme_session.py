"""The README's first GraphQL session, pasted as written, does what the README says."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Api

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S)


def test_the_readme_session_bills_a_call_once_and_balances(api: Api) -> None:
    create, top_up, record, read, quote = _blocks()[:5]
    account = api(create)["createAccount"]
    assert account["__typename"] == "AccountPayload"
    account_id = account["account"]["id"]
    paste = lambda block: block.replace("ACCOUNT_ID", account_id)  # noqa: E731

    assert api(paste(top_up))["addCredits"]["balance"] == "150"
    first = api(paste(record))["recordUsage"]
    again = api(paste(record))["recordUsage"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert first["usage"]["creditsUsed"] == "10" and first["usage"]["costUsdTotal"] == "0.000645"
    assert first["usage"]["model"] == {"name": "gpt-4o-mini", "version": 1}
    assert first["balance"] == again["balance"] == "140"

    state = api(paste(read))["account"]
    assert state["balance"] == "140"
    amounts = [int(edge["node"]["amount"]) for edge in state["transactions"]["edges"]]
    assert amounts == [-10, 50, 100] and sum(amounts) == 140
    assert len(state["usage"]["edges"]) == 1

    quoted = api(paste(quote))["quote"]
    assert quoted["__typename"] == "Quote" and quoted["creditsUsed"] == "35" and quoted["affordable"] is True
    assert api(paste(read))["account"]["balance"] == "140"  # a quote writes nothing
