"""The database settings read from the environment: clear refusals, never a pool that cannot hand out a connection."""

from __future__ import annotations

import pytest

from persistence.engine import normalise_url, pool_size


@pytest.mark.parametrize("value, expected", [(None, 20), ("1", 1), ("64", 64)])
def test_the_hot_path_pool_size(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int) -> None:
    if value is None:
        monkeypatch.delenv("CREDITMETER_DB_POOL_SIZE", raising=False)
    else:
        monkeypatch.setenv("CREDITMETER_DB_POOL_SIZE", value)
    assert pool_size() == expected


@pytest.mark.parametrize("value", ["0", "-3", "ten", "", "2.5"])
def test_a_pool_size_that_could_never_serve_a_call_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CREDITMETER_DB_POOL_SIZE", value)
    with pytest.raises(ValueError, match="CREDITMETER_DB_POOL_SIZE"):
        pool_size()


@pytest.mark.parametrize("url", ["postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"])
def test_postgres_urls_use_psycopg_3(url: str) -> None:
    assert normalise_url(url) == "postgresql+psycopg://u@h/db"
