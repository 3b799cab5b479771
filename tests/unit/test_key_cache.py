"""The per-process cache of live API keys: bounded in time, emptied by a revocation."""

from __future__ import annotations

import os

import pytest

from api.auth import KeyCache
from domain.model import Caller, Role


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
