"""CPU time per recordUsage request spent above the billing: HTTP, authentication and GraphQL.

    .venv/bin/python -m bench.graphql_layer [--requests 5000] [--profile [SORT]]

The app is driven in this process through its ASGI interface (no sockets), one request at a
time, on a temporary SQLite database. Billing is stubbed as in bench/api_only.py: the first
call bills for real and every later one returns that outcome. Each path is timed with
time.process_time, and so are authentication and the billing call (record_one) inside it,
so the GraphQL layer's own figure is what remains. `--profile` prints where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import pstats
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from api import app as app_module
from api import usage as usage_api
from api.app import create_app
from api.context import SystemClock
from api.seed import seed
from bench.api_only import stub_billing
from bench.databases import drop_database, fresh_database
from bench.record_usage import MUTATION
from domain import services
from domain.model import Role
from persistence.engine import make_engine
from persistence.migrate import upgrade
from persistence.unit_of_work import SqlUnitOfWorkFactory

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class _Timer:
    """CPU seconds spent inside a wrapped coroutine function (requests run one at a time)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return await function(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - started

        return timed


def _prepare(url: str) -> tuple[SqlUnitOfWorkFactory, str, str]:
    upgrade(url)
    factory = SqlUnitOfWorkFactory(make_engine(url, pool_size=2))
    seed(factory, SystemClock(), bootstrap_admin=False)
    account = services.create_account(factory(), SystemClock(), "bench", Decimal(10**7))
    _, secret = services.create_api_key(factory(), SystemClock(), "bench", Role.SERVICE)
    return factory, account.id, secret


async def _raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor: read the body, answer a fixed JSON document."""
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"data":{"recordUsage":{"__typename":"UsageRecorded"}}}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _Client:
    def __init__(self, app: App, secret: str, account_id: str) -> None:
        self._app = app
        self._headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
                         (b"authorization", f"Bearer {secret}".encode())]
        self._account_id = account_id
        self._counter = itertools.count()

    async def post(self) -> tuple[int, bytes]:
        body = json.dumps({"query": MUTATION, "variables": {"i": {
            "idempotencyKey": f"layer-{next(self._counter)}", "accountId": self._account_id,
            "operationType": "content", "tokensInput": 1200, "tokensOutput": 350, "tokensCachedInput": 200,
        }}}).encode()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "",
            "headers": [*self._headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._app(scope, receive, send)
        return status, b"".join(chunks)


async def _measure(client: _Client, requests: int, timers: tuple[_Timer, ...] = (),
                   profile: cProfile.Profile | None = None) -> float:
    """CPU seconds per request, after a warm-up (left out of the timers)."""
    for _ in range(200):
        status, body = await client.post()
        assert status == 200 and b'"UsageRecorded"' in body, body
    for timer in timers:
        timer.seconds = 0.0
    if profile:
        profile.enable()
    started = time.process_time()
    for _ in range(requests):
        await client.post()
    elapsed = time.process_time() - started
    if profile:
        profile.disable()
    return elapsed / requests


async def _run(requests: int, profile: str | None) -> None:
    auth, billing = _Timer(), _Timer()
    app_module.authenticate = auth.wrap(app_module.authenticate)  # type: ignore[assignment]
    usage_api.record_one = billing.wrap(usage_api.record_one)  # type: ignore[assignment]
    url = fresh_database("sqlite", "creditmeter_graphql_layer")
    factory, account_id, secret = _prepare(url)
    try:
        floor = await _measure(_Client(_raw_app, secret, account_id), requests)
        print(f"raw ASGI app (reads the body, answers a fixed JSON): {floor * 1000:.3f} ms CPU per request")
        for name, fast_path in (("strawberry path", False), ("fast path", True)):
            app = create_app(factory, fast_path=fast_path)
            async with app.router.lifespan_context(app):
                profiler = cProfile.Profile() if profile else None
                total = await _measure(_Client(app, secret, account_id), requests, (auth, billing), profiler)
            layer = total - (auth.seconds + billing.seconds) / requests
            print(
                f"{name}: {total * 1000:.3f} ms CPU per request = authentication {auth.seconds / requests * 1000:.3f}"
                f" + billing (record_one, stubbed) {billing.seconds / requests * 1000:.3f}"
                f" + GraphQL layer {layer * 1000:.3f}"
            )
            if profiler:
                pstats.Stats(profiler).sort_stats(profile).print_stats(40)
    finally:
        factory.engine.dispose()
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--profile", nargs="?", const="tottime", metavar="SORT",
                        help="print a cProfile of each path, sorted by SORT (tottime, cumulative, ...)")
    args = parser.parse_args()
    stub_billing()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the server runs on uvloop where it is installed
        asyncio.run(_run(args.requests, args.profile))
    else:
        uvloop.run(_run(args.requests, args.profile))


if __name__ == "__main__":
    main()
