"""API keys on HTTP requests: `Authorization: Bearer <secret>` becomes a Caller, or nobody."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable

import anyio.to_thread
from starlette.requests import Request

from api.context import UnitOfWorkFactory
from domain import services
from domain.model import Caller

UNAUTHENTICATED = "Unauthenticated: send a live API key as 'Authorization: Bearer <secret>'"
DEFAULT_KEY_CACHE_SECONDS = 1.0


def key_cache_seconds() -> float:
    return float(os.environ.get("CREDITMETER_KEY_CACHE_SECONDS", DEFAULT_KEY_CACHE_SECONDS))


class KeyCache:
    """Live keys this process has seen, for `seconds` at most: most requests then skip a database
    read. Only live keys are kept, so a new key works at once and a wrong one is always looked up.
    A revocation made through this process empties the cache at once; one made through another
    process is seen within `seconds`. Zero turns the cache off."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._callers: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        # The lookups in flight on the event loop, by digest (authenticate).
        self.lookups: dict[str, asyncio.Future[Caller | None]] = {}

    def get(self, digest: str) -> Caller | None:
        found = self._callers.get(digest)
        if found is None:
            return None
        caller, expires = found
        if self._clock() >= expires:
            self._callers.pop(digest, None)
            return None
        return caller

    def generation(self) -> int:
        return self._generation

    def put(self, digest: str, caller: Caller, generation: int) -> None:
        """Keep a caller read while the cache was at `generation`, unless a revocation came since."""
        if self.seconds <= 0:
            return
        with self._lock:
            if generation == self._generation:
                if len(self._callers) >= 10_000:
                    self._callers.clear()
                self._callers[digest] = (caller, self._clock() + self.seconds)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._callers.clear()
            self.lookups.clear()  # lookups begun before the revocation are not shared from now on


async def authenticate(request: Request, uow_factory: UnitOfWorkFactory, cache: KeyCache) -> Caller | None:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or len(secret) > 200:
        return None
    digest = services.hash_secret(secret)
    caller = cache.get(digest)
    if caller is not None:
        return caller
    # One lookup per key at a time: when a busy key's cache entry expires, the requests that
    # arrive meanwhile wait for that lookup instead of each sending its own.
    loop = asyncio.get_running_loop()
    pending = cache.lookups.get(digest)
    if pending is not None and pending.get_loop() is loop:
        return await asyncio.shield(pending)
    lookup: asyncio.Future[Caller | None] = loop.create_future()
    cache.lookups[digest] = lookup
    try:
        caller = await _look_up(uow_factory, cache, digest, secret)
    except BaseException as error:
        lookup.set_exception(error)
        lookup.exception()  # retrieved: no "never retrieved" warning when no one else waited
        raise
    else:
        lookup.set_result(caller)
    finally:
        if cache.lookups.get(digest) is lookup:
            del cache.lookups[digest]
    return caller


async def _look_up(uow_factory: UnitOfWorkFactory, cache: KeyCache, digest: str, secret: str) -> Caller | None:
    generation = cache.generation()
    key = await anyio.to_thread.run_sync(services.authenticate, uow_factory(read_only=True), secret)
    if key is None:
        return None
    caller = Caller(key.role, key.account_id, key.id)
    cache.put(digest, caller, generation)
    return caller
