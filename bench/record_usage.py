"""recordUsage throughput: one server worker, 32 concurrent clients, against a fresh database.

    .venv/bin/python -m bench.record_usage [--db postgres|sqlite] [--seconds 15] [--connections 32]
        [--batch N] [--api-only]

The load comes from `wrk` (apt-get install wrk) when present, else from a small asyncio
client in this process (which then competes for the CPU, so figures are lower). After the
run it checks the books: usage rows == successful responses, balance == sum(ledger).
`--batch N` sends recordUsageBatch with N usages per request; `--api-only` measures the
server with its billing replaced by a fixed answer (bench/api_only.py): the ceiling that
HTTP, authentication and GraphQL leave one worker, whatever the database does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, func, select

from api import fastpath
from api.context import SystemClock
from api.seed import seed
from bench.databases import drop_database, fresh_database
from domain import services
from domain.model import Role
from persistence.engine import make_engine
from persistence.migrate import upgrade
from persistence.repositories import accounts, transactions, usage
from persistence.unit_of_work import SqlUnitOfWorkFactory

ACCOUNTS = 100
PORT = 8765
MUTATION = (
    "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { __typename "
    "... on UsageRecorded { balance usage { id creditsUsed costUsdTotal } } ... on Error { code } } }"
)
BATCH_MUTATION = (
    "mutation($i: [RecordUsageInput!]!) { recordUsageBatch(inputs: $i) { __typename "
    "... on UsageRecorded { balance usage { id creditsUsed costUsdTotal } } ... on Error { code } } }"
)
WRK_SCRIPT = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer SECRET"
local accounts = {ACCOUNTS}
local counter = 0
local thread_id = 0
local n = 0
setup = function(thread) n = n + 1; thread:set("tid", n) end
local batch = BATCH
local usage = function()
  counter = counter + 1
  local account = accounts[(counter % #accounts) + 1]
  return '{"idempotencyKey":"bench-' .. RUN .. '-' .. tid .. '-' .. counter ..
    '","accountId":"' .. account .. '","operationType":"content",' ..
    '"tokensInput":1200,"tokensOutput":350,"tokensCachedInput":200}'
end
request = function()
  local body
  if batch == 0 then
    body = '{"query":"QUERY","variables":{"i":' .. usage() .. '}}'
  else
    local items = {}
    for i = 1, batch do items[i] = usage() end
    body = '{"query":"QUERY","variables":{"i":[' .. table.concat(items, ",") .. ']}}'
  end
  return wrk.format(nil, "/graphql", nil, body)
end
"""


def _fresh_database(kind: str) -> str:
    return fresh_database(kind, "creditmeter_bench")


def _prepare(url: str) -> tuple[list[str], str]:
    upgrade(url)
    factory = SqlUnitOfWorkFactory(make_engine(url, pool_size=2))
    seed(factory, SystemClock(), bootstrap_admin=False)
    ids = [services.create_account(factory(), SystemClock(), f"bench {n}", Decimal(10**7)).id for n in range(ACCOUNTS)]
    _, secret = services.create_api_key(factory(), SystemClock(), "bench", Role.SERVICE)
    factory.engine.dispose()
    return ids, secret


def _serve(url: str, *, api_only: bool = False) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CREDITMETER_DATABASE_URL": url}
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.api_only" if api_only else "api.cli", "serve", "--port", str(PORT),
         "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1).read()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start: " + server.stderr.read().decode()[-2000:])  # type: ignore[union-attr]


def _wrk(
    ids: list[str], secret: str, seconds: int, connections: int, run: str, batch: int = 0
) -> tuple[float, int, str]:
    script = (
        WRK_SCRIPT.replace("SECRET", secret)
        .replace("{ACCOUNTS}", "{" + ",".join(f'"{i}"' for i in ids) + "}")
        .replace("QUERY", (BATCH_MUTATION if batch else MUTATION).replace('"', '\\"'))
        .replace("RUN", f'"{run}"')
        .replace("BATCH", str(batch))
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "record.lua"
        path.write_text(script)
        output = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "--latency", "-s", str(path),
             f"http://127.0.0.1:{PORT}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return rate, total, output


async def _python_load(ids: list[str], secret: str, seconds: int, connections: int, run: str) -> tuple[float, int, str]:
    deadline = time.perf_counter() + seconds
    done = 0

    async def client(worker: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        counter = 0
        while time.perf_counter() < deadline:
            counter += 1
            body = json.dumps(
                {
                    "query": MUTATION,
                    "variables": {
                        "i": {
                            "idempotencyKey": f"bench-{run}-{worker}-{counter}",
                            "accountId": ids[counter % len(ids)],
                            "operationType": "content",
                            "tokensInput": 1200,
                            "tokensOutput": 350,
                            "tokensCachedInput": 200,
                        }
                    },
                }
            ).encode()
            writer.write(
                b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer "
                + secret.encode()
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            headers = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", headers.lower()).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            done += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(connections)))
    return done / (time.perf_counter() - started), done, "python asyncio client (in-process, shares the CPU)"


def _books(url: str) -> tuple[int, bool]:
    engine = create_engine(url)
    with engine.connect() as c:
        rows = c.execute(select(func.count()).select_from(usage)).scalar_one()
        balances = c.execute(select(func.sum(accounts.c.balance))).scalar_one()
        ledger = c.execute(select(func.sum(transactions.c.amount))).scalar_one()
    engine.dispose()
    return rows, balances == ledger


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=0, help="send recordUsageBatch with this many usages (wrk)")
    parser.add_argument(
        "--api-only", action="store_true",
        help="diagnostic: the server bills nothing (bench/api_only.py), to measure HTTP + GraphQL alone",
    )
    args = parser.parse_args()

    url = _fresh_database(args.db)
    ids, secret = _prepare(url)
    server = _serve(url, api_only=args.api_only)
    try:
        use_wrk = shutil.which("wrk") is not None
        if args.batch and not use_wrk:
            raise SystemExit("--batch needs wrk (apt-get install wrk)")
        load = (
            (lambda s, r: _wrk(ids, secret, s, args.connections, r, args.batch))
            if use_wrk
            else (lambda s, r: asyncio.run(_python_load(ids, secret, s, args.connections, r)))
        )
        load(3, "warmup")
        rate, total, detail = load(args.seconds, "run")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(20)
    rows, balanced = _books(url)
    drop_database(url)
    what = (f"recordUsageBatch/s of {args.batch} = {rate * args.batch:,.0f} usages/s" if args.batch
            else "recordUsage/s")
    line = (
        f"{datetime.now(UTC):%Y-%m-%d} | {args.db} | 1 worker | {args.connections} clients | "
        f"{'wrk' if use_wrk else 'python client'} | {rate:,.1f} {what}"
        f"{' | API ONLY: billing replaced by a fixed answer (diagnostic)' if args.api_only else ''}"
        f"{'' if fastpath.enabled() else ' | GraphQL fast path OFF (CREDITMETER_GRAPHQL_FAST_PATH=0)'} | "
        f"{total} requests, {rows} usage rows (incl. warm-up) | balance == sum(ledger): {balanced}"
    )
    print(detail)
    print(line)
    results = Path(__file__).parent / "results" / "record_usage.md"
    with results.open("a") as out:
        out.write(line + "\n")


if __name__ == "__main__":
    main()
