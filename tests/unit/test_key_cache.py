"""The per-process cache of live API keys: bounded in time, emptied by a revocation."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime

import pytest
from starlette.requests import Request

from api.auth import KeyCache, authenticate
from domain import services
from domain.model import ApiKey, Caller, Role


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


SERVICE = Caller(Role.SERVICE, None, "k1")


def test_a_key_is_kept_for_the_configured_seconds_only() -> None:
    ticks = Ticks()
    cache = KeyCache(1.0, clock=ticks)
    cache.put("digest", SERVICE, cache.generation())
    ticks.now += 0.99
    assert cache.get("digest") == SERVICE
    ticks.now += 0.02
    assert cache.get("digest") is None  # looked up again: a revocation elsewhere is seen by now


def test_a_revocation_empties_the_cache_at_once() -> None:
    cache = KeyCache(60.0, clock=Ticks())
    cache.put("digest", SERVICE, cache.generation())
    cache.clear()
    assert cache.get("digest") is None


def test_a_key_read_before_a_revocation_is_not_kept_after_it() -> None:
    # A request read the key as live, then a revocation landed before it could cache it.
    cache = KeyCache(60.0, clock=Ticks())
    read_at = cache.generation()
    cache.clear()
    cache.put("digest", SERVICE, read_at)
    assert cache.get("digest") is None


def test_zero_seconds_turns_the_cache_off() -> None:
    cache = KeyCache(0, clock=Ticks())
    cache.put("digest", SERVICE, cache.generation())
    assert cache.get("digest") is None


def test_several_workers_look_every_key_up_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from api import cli

    seen: list[str | None] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.append(os.environ.get("CREDITMETER_KEY_CACHE_SECONDS")))
    monkeypatch.setenv("CREDITMETER_KEY_CACHE_SECONDS", "")  # so that teardown restores what was there
    monkeypatch.delenv("CREDITMETER_KEY_CACHE_SECONDS")
    cli.main(["serve", "--workers", "1"])
    cli.main(["serve", "--workers", "3"])
    monkeypatch.setenv("CREDITMETER_KEY_CACHE_SECONDS", "5")
    cli.main(["serve", "--workers", "3"])
    assert seen == [None, "0", "5"]


def test_requests_arriving_while_a_key_is_looked_up_share_that_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy key's entry expiring must not send one database lookup per waiting request."""
    looked_up: list[str] = []

    def slow_lookup(_uow: object, secret: str) -> ApiKey | None:
        looked_up.append(secret)
        time.sleep(0.05)
        return ApiKey("k1", "svc", Role.SERVICE, "hash", datetime.now(UTC)) if secret == "good" else None

    monkeypatch.setattr(services, "authenticate", slow_lookup)
    cache = KeyCache(60.0)

    def request(secret: str) -> Request:
        return Request({"type": "http", "headers": [(b"authorization", f"Bearer {secret}".encode())]})

    async def many() -> list[Caller | None]:
        return await asyncio.gather(*(authenticate(request(s), lambda **_: None, cache)  # type: ignore[arg-type]
                                      for s in ["good"] * 20 + ["bad"] * 5))

    callers = asyncio.run(many())
    assert callers[:20] == [SERVICE] * 20 and callers[20:] == [None] * 5
    assert sorted(looked_up) == ["bad", "good"]  # one lookup per key, not 25
    assert cache.lookups == {}
    asyncio.run(many())  # the live key is cached now; an unknown one is looked up again
    assert sorted(looked_up) == ["bad", "bad", "good"]
