"""Report latency and CSV export speed at scale, against a fresh database.

    .venv/bin/python -m bench.reports [--rows 1000000] [--db sqlite|postgres] [--runs 15]

Loads `rows` usage rows over 90 days (200 accounts with skewed activity, the seeded
catalogue, a daily rhythm) straight into the database, with the rollups recordUsage would
have written beside them: the same pricing functions and the same slicing
(persistence/rollups.py), checked against the raw rows after loading. Then it starts one
server worker and times, over HTTP, each full report (every field, 30 local days) for all
accounts and for the busiest account, in New York (a DST change in range) and in Kolkata
(+05:30): the median of `runs` runs after warm-up. Last, it streams /exports/usage.csv for
all rows three times (the median run is the figure) and reads the server's peak resident
memory. Figures go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import create_engine, func, select

from api.context import SystemClock
from api.seed import seed
from bench.databases import drop_database, fresh_database
from domain import services
from domain.model import ModelType, Role, TokenCounts
from domain.money import CREDIT_PLACES, USD_PLACES
from domain.pricing import calculate_cost, calculate_credits
from domain.reports import epoch_seconds
from persistence.engine import make_engine
from persistence.migrate import upgrade
from persistence.repositories import usage
from persistence.rollups import KEY, MEASURES, slice_keys
from persistence.statements import units
from persistence.unit_of_work import SqlUnitOfWorkFactory

PORT = 8766
ACCOUNTS = 200
DAYS = 90
END = datetime(2026, 11, 20, tzinfo=UTC)  # the last 30 days hold New York's fall-back day
BATCH = 50_000
RESULTS = Path(__file__).parent / "results"
OPERATIONS = (("clustering", 25), ("ideas", 20), ("content", 25), ("optimizer", 10), ("linker", 10), ("image", 10))
HOURLY_SUMS = ("calls", "tokens_input", "tokens_output", "tokens_cached_input", "tokens_cache_write",
               "tokens_reasoning", "images", "credits_used", "cost_usd_input", "cost_usd_output")
USAGE_COLUMNS = ("idempotency_key", "request_hash", "account_id", "operation_type", "model_version_id", "model_name",
                 "tokens_input", "tokens_output", "tokens_cached_input", "tokens_cache_write", "tokens_reasoning",
                 "images", "credits_used", "cost_usd_input", "cost_usd_output", "cost_usd_total", "success",
                 "tokens_estimated", "occurred_at", "recorded_at", "metadata")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ROW = "key label calls successRate tokensInput tokensOutput tokensTotal creditsUsed costUsd costPer1kTokens share"
POINT = "bucket calls tokensInput tokensOutput tokensTotal creditsUsed costUsd"
TOKEN_USAGE = f"""query($f: ReportFilter!) {{ tokenUsageReport(filter: $f) {{
  totals {{ calls successfulCalls successRate tokensInput tokensOutput tokensTotal creditsUsed costUsd costPer1kTokens
           avgTokensPerCall outputPerInputToken }}
  byModel {{ {ROW} }} byOperation {{ {ROW} }} byAccount {{ {ROW} }}
  daily {{ {POINT} }} hourly {{ {POINT} }} heatmap {{ weekday hour calls tokensTotal costUsd }} }} }}"""
COST_ANALYSIS = f"""query($f: ReportFilter!) {{ aiCostAnalysis(filter: $f) {{
  totals {{ calls costUsd costUsdInput costUsdOutput avgCostPerCall creditsUsed revenueUsd marginUsd efficiencyScore }}
  byModel {{ {ROW} }} byOperation {{ {ROW} }} byAccount {{ {ROW} }}
  daily {{ {POINT} }} hourly {{ {POINT} }}
  projection {{ method runRateDailyUsd trendDailyUsd projected30DaysUsd }}
  anomalies {{ averageCostUsd factor usage {{ id accountId operationType modelName tokensInput tokensOutput
    creditsUsed costUsdTotal occurredAt model {{ id name provider }} }} }}
  modelComparison {{ model provider calls successRate tokensInput tokensOutput avgTokensPerCall costUsd
    costPer1kTokens avgCostPerCall creditsUsed marginUsd }} }} }}"""


# ---------------------------------------------------------------- a fresh database, loaded


def _fresh_database(kind: str) -> str:
    return fresh_database(kind, "creditmeter_bench_reports")


class Generator:
    """Usage as recordUsage would have billed it, in time order, reproducibly."""

    def __init__(self, factory: SqlUnitOfWorkFactory, rows: int) -> None:
        self.rng = random.Random(20261120)
        self.rows = rows
        with factory() as uow:
            self.catalogue = uow.catalogue.snapshot()
        clock = SystemClock()
        self.accounts = [services.create_account(factory(), clock, f"Bench customer {n:03d}").id
                         for n in range(ACCOUNTS)]
        self.weights = [1 / (rank + 1) ** 0.8 for rank in range(ACCOUNTS)]  # a few big customers, a long tail
        text_models = [n for n, f in self.catalogue.flags.items() if f.model_type is ModelType.TEXT]
        self.text_models = sorted(n for n in text_models if self.catalogue.history(n)[-1].tokens_per_credit)
        self.image_models = sorted(n for n, f in self.catalogue.flags.items() if f.model_type is ModelType.IMAGE)
        self.favourite = {a: (self.rng.choice(self.text_models), self.rng.choice(self.image_models))
                          for a in self.accounts}

    def times(self) -> list[int]:
        """Microseconds since 1970, sorted: busier in working hours and on weekdays, growing over the period."""
        start = epoch_seconds(END - timedelta(days=DAYS))
        day_weights = [(0.6 if (END - timedelta(days=DAYS - d)).weekday() >= 5 else 1.0) * (1 + d / DAYS / 2)
                       for d in range(DAYS)]
        hour_weights = [0.35 + 1.2 * max(0.0, 1 - abs(h - 15) / 9) for h in range(24)]
        days = self.rng.choices(range(DAYS), day_weights, k=self.rows)
        hours = self.rng.choices(range(24), hour_weights, k=self.rows)
        micros = [(start + d * 86_400 + h * 3600) * 1_000_000 + self.rng.randrange(3_600_000_000)
                  for d, h in zip(days, hours, strict=True)]
        micros.sort()
        return micros

    def batches(self) -> Iterator[list[dict[str, Any]]]:
        times = self.times()
        operations, weights = zip(*OPERATIONS, strict=True)
        settings = self.catalogue.settings
        for first in range(0, self.rows, BATCH):
            batch = []
            at_list = times[first:first + BATCH]
            accounts = self.rng.choices(self.accounts, self.weights, k=len(at_list))
            ops = self.rng.choices(operations, weights, k=len(at_list))
            for offset, (micros, account, op_name) in enumerate(zip(at_list, accounts, ops, strict=True)):
                at = _EPOCH + timedelta(microseconds=micros)
                text_model, image_model = self.favourite[account]
                if op_name == "image":
                    name = image_model
                    counts = TokenCounts(images=self.rng.randint(1, 4))
                else:
                    name = text_model if self.rng.random() < 0.75 else self.rng.choice(self.text_models)
                    tokens_input = int(self.rng.lognormvariate(7.2, 1.0))
                    cached = tokens_input // 3 if self.rng.random() < 0.3 else 0
                    written = tokens_input // 5 if name.startswith("claude") and self.rng.random() < 0.1 else 0
                    tokens_output = int(self.rng.lognormvariate(5.7, 0.9))
                    counts = TokenCounts(tokens_input, tokens_output, cached, written,
                                         tokens_output // 4 if self.rng.random() < 0.2 else 0)
                success = self.rng.random() < 0.97
                model = self.catalogue.version_at(name, at)
                assert model is not None
                operation = self.catalogue.operations[op_name]
                credits = calculate_credits(operation, model, counts, settings, success=success)
                cost = calculate_cost(model, counts)
                batch.append({
                    "idempotency_key": f"bench-{first + offset:08d}", "request_hash": "0" * 64,
                    "account_id": account, "operation_type": op_name, "model_version_id": model.id,
                    "model_name": model.name, "tokens_input": counts.tokens_input,
                    "tokens_output": counts.tokens_output, "tokens_cached_input": counts.tokens_cached_input,
                    "tokens_cache_write": counts.tokens_cache_write, "tokens_reasoning": counts.tokens_reasoning,
                    "images": counts.images, "credits_used": units(credits, CREDIT_PLACES),
                    "cost_usd_input": units(cost.input, USD_PLACES), "cost_usd_output": units(cost.output, USD_PLACES),
                    "cost_usd_total": units(cost.total, USD_PLACES), "success": success, "tokens_estimated": False,
                    "occurred_at": at, "recorded_at": at, "metadata": None,
                })
            yield batch


class Rollups:
    """What recordUsage's two upserts would have made of the same rows."""

    def __init__(self) -> None:
        self.hourly: dict[tuple[Any, ...], list[int]] = {}
        self.report: dict[tuple[Any, ...], list[int]] = {}

    def add(self, row: dict[str, Any]) -> None:
        at: datetime = row["occurred_at"]
        hour_key = (at.replace(minute=0, second=0, microsecond=0), row["account_id"], row["model_version_id"],
                    row["operation_type"], row["success"])
        hourly = (1, *(row[name] for name in HOURLY_SUMS[1:]))
        found = self.hourly.get(hour_key)
        if found is None:
            self.hourly[hour_key] = list(hourly)
        else:
            for index, value in enumerate(hourly):
                found[index] += value
        measures = (1, 1 if row["success"] else 0, row["tokens_input"], row["tokens_output"], row["credits_used"],
                    row["cost_usd_input"], row["cost_usd_output"])
        for key in slice_keys(row["account_id"], epoch_seconds(at), row["model_version_id"], row["operation_type"]):
            sums = self.report.get(key)
            if sums is None:
                self.report[key] = list(measures)
            else:
                for index, value in enumerate(measures):
                    sums[index] += value

    def hourly_rows(self) -> Iterator[tuple[Any, ...]]:
        for key, sums in self.hourly.items():
            yield (*key, *sums)

    def report_rows(self) -> Iterator[tuple[Any, ...]]:
        for key, sums in self.report.items():
            yield (int(key[0]), *key[1:], *sums)


def _load(url: str, rows: int) -> float:
    started = time.perf_counter()
    upgrade(url)
    factory = SqlUnitOfWorkFactory(make_engine(url, pool_size=2))
    seed(factory, SystemClock(), bootstrap_admin=False)
    generator = Generator(factory, rows)
    rollups = Rollups()
    hourly_columns = ("bucket_start", "account_id", "model_version_id", "operation_type", "success", *HOURLY_SUMS)
    report_columns = KEY + MEASURES
    with factory.engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None
        postgres = connection.dialect.name == "postgresql"
        if not postgres:  # the driver runs in autocommit mode (persistence/engine.py): one transaction here
            driver.execute("PRAGMA synchronous=OFF")
            driver.execute("BEGIN")
        for batch in generator.batches():
            for row in batch:
                rollups.add(row)
            _insert(driver, postgres, "usage_records", USAGE_COLUMNS,
                    ([_sqlite_value(row[c]) for c in USAGE_COLUMNS] if not postgres else
                     [row[c] for c in USAGE_COLUMNS] for row in batch))
            print(f"  {batch[-1]['idempotency_key']} loaded", end="\r", flush=True)
        _insert(driver, postgres, "usage_rollups_hourly", hourly_columns,
                (row if postgres else [_sqlite_value(v) for v in row] for row in rollups.hourly_rows()))
        _insert(driver, postgres, "usage_report_rollups", report_columns, rollups.report_rows())
        if postgres:
            # What autovacuum does to a loaded table before long: statistics, and the visibility map
            # that lets reports read the rollups' covering key without visiting the heap.
            driver.commit()
            driver.autocommit = True
            driver.execute("VACUUM (ANALYZE)")
        else:
            driver.execute("COMMIT")
            driver.execute("ANALYZE")
    factory.engine.dispose()
    print(f"  loaded {rows:,} usage rows, {len(rollups.hourly):,} hourly rollups, "
          f"{len(rollups.report):,} report rollups")
    return time.perf_counter() - started


def _sqlite_value(value: Any) -> Any:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def _insert(driver: Any, postgres: bool, table: str, columns: tuple[str, ...], rows: Any) -> None:
    if postgres:
        with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * len(columns))
        driver.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _busiest_account(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as connection:
        account = connection.execute(
            select(usage.c.account_id).group_by(usage.c.account_id).order_by(func.count().desc()).limit(1)
        ).scalar_one()
    engine.dispose()
    return str(account)


# ---------------------------------------------------------------- the server and the timings


def _serve(url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CREDITMETER_DATABASE_URL": url}
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(PORT), "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1).read()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start: " + server.stderr.read().decode()[-2000:])  # type: ignore[union-attr]


def _thirty_local_days(zone: str) -> tuple[str, str]:
    tz = ZoneInfo(zone)
    last: date = (END - timedelta(microseconds=1)).astimezone(tz).date()
    start = datetime.combine(last - timedelta(days=30), datetime.min.time(), tzinfo=tz)
    end = datetime.combine(last, datetime.min.time(), tzinfo=tz)
    return start.isoformat(), end.isoformat()


def _time_reports(client: httpx.Client, busiest: str, runs: int, url: str) -> list[dict[str, Any]]:
    timings = []
    for zone in ("America/New_York", "Asia/Kolkata"):
        start, end = _thirty_local_days(zone)
        for scope, account in (("all accounts", None), ("busiest account", busiest)):
            for name, query in (("tokenUsageReport", TOKEN_USAGE), ("aiCostAnalysis", COST_ANALYSIS)):
                variables = {"f": {"from": start, "to": end, "timezone": zone, "accountId": account}}
                samples = []
                for n in range(runs + 3):
                    began = time.perf_counter()
                    response = client.post("/graphql", json={"query": query, "variables": variables})
                    elapsed = (time.perf_counter() - began) * 1000
                    body = response.json()
                    assert response.status_code == 200 and "errors" not in body, body
                    if n >= 3:
                        samples.append(elapsed)
                if name == "tokenUsageReport" and account is None:
                    _check_totals(url, body["data"][name]["totals"], start, end)
                timings.append({"report": name, "scope": scope, "zone": zone, "median_ms": statistics.median(samples),
                                "min_ms": min(samples), "max_ms": max(samples)})
                print(f"  {name:17} {scope:16} {zone:17} median {statistics.median(samples):6.1f} ms")
    return timings


def _check_totals(url: str, totals: dict[str, Any], start: str, end: str) -> None:
    """The rollups the bench wrote agree with the raw rows: the report equals a plain SQL sum."""
    engine = create_engine(url)
    with engine.connect() as connection:
        calls, tokens = connection.execute(
            select(func.count(), func.sum(usage.c.tokens_input + usage.c.tokens_output))
            .where(usage.c.occurred_at >= datetime.fromisoformat(start),
                   usage.c.occurred_at < datetime.fromisoformat(end))
        ).one()
    engine.dispose()
    assert (totals["calls"], totals["tokensTotal"]) == (calls, int(tokens)), (totals, calls, tokens)


EXPORT_RUNS = 3


def _time_export(client: httpx.Client, rows: int, server: subprocess.Popen[bytes]) -> dict[str, Any]:
    """Stream every row EXPORT_RUNS times; the median run is the figure (one run on this VM
    moves by a third from the next)."""
    params = {"from": (END - timedelta(days=DAYS)).isoformat(), "to": END.isoformat()}
    runs = []
    for _ in range(EXPORT_RUNS):
        lines = size = 0
        began = time.perf_counter()
        with client.stream("GET", "/exports/usage.csv", params=params, timeout=600) as response:
            assert response.status_code == 200, response.read()
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
                size += len(chunk)
        runs.append(time.perf_counter() - began)
        assert lines == rows + 1, (lines, rows)  # a header and every row
    elapsed = statistics.median(runs)
    status = Path(f"/proc/{server.pid}/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    print(f"  usage.csv: {rows:,} rows, {size / 1e6:,.0f} MB, median of {EXPORT_RUNS} runs {elapsed:.1f} s = "
          f"{rows / elapsed:,.0f} rows/s (runs: {', '.join(f'{rows / run:,.0f}' for run in runs)}), "
          f"server peak RSS {peak_kb / 1024:.0f} MB")
    return {"rows": rows, "megabytes": round(size / 1e6, 1), "seconds": round(elapsed, 2),
            "rows_per_second": round(rows / elapsed), "runs_rows_per_second": [round(rows / run) for run in runs],
            "server_peak_rss_mb": round(peak_kb / 1024)}


# ---------------------------------------------------------------- results


def _write(db: str, rows: int, result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    store = RESULTS / "reports.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    results[f"{db}-{rows}"] = result
    store.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    lines = ["# Report latency and CSV export", "",
             "`make bench` / `.venv/bin/python -m bench.reports --db {sqlite,postgres} --rows N`: usage over 90 "
             "days, 200 accounts; each full report (every field) over 30 local days, median of repeated runs "
             "over HTTP against one server worker; the CSV export streams every row.", ""]
    for key in sorted(results, key=lambda k: (k.split("-")[0], int(k.split("-")[1]))):
        entry = results[key]
        kind, size = key.split("-")
        lines += [f"## {kind}, {int(size):,} usage rows ({entry['date']}, loaded in {entry['load_seconds']:.0f} s)",
                  "", "| report | scope | zone | median ms | min | max |", "|---|---|---|---|---|---|"]
        lines += [f"| {t['report']} | {t['scope']} | {t['zone']} | {t['median_ms']:.1f} | {t['min_ms']:.1f} | "
                  f"{t['max_ms']:.1f} |" for t in entry["reports"]]
        export = entry["export"]
        runs = ", ".join(f"{rate:,}" for rate in export.get("runs_rows_per_second", []))
        lines += ["", f"usage.csv: {export['rows']:,} rows ({export['megabytes']} MB), median run "
                  f"{export['seconds']} s = **{export['rows_per_second']:,} rows/s** (runs: {runs}); server peak RSS "
                  f"**{export['server_peak_rss_mb']} MB**.",
                  ""]
    (RESULTS / "reports.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--url", help="time a database this script loaded before, instead of loading a fresh one")
    parser.add_argument("--keep", action="store_true", help="keep the loaded database and print its URL for --url")
    args = parser.parse_args()

    print(f"bench.reports: {args.db}, {args.rows:,} rows")
    if args.url:
        url, load_seconds = args.url, 0.0
    else:
        url = _fresh_database(args.db)
        load_seconds = _load(url, args.rows)
    busiest = _busiest_account(url)
    factory = SqlUnitOfWorkFactory(make_engine(url, pool_size=2))
    _, secret = services.create_api_key(factory(), SystemClock(), "bench", Role.ADMIN)
    factory.engine.dispose()
    server = _serve(url)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", headers={"Authorization": f"Bearer {secret}"},
                          timeout=60) as client:
            timings = _time_reports(client, busiest, args.runs, url)
            export = _time_export(client, args.rows, server)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(20)
    if not args.url:
        _write(args.db, args.rows, {"date": f"{datetime.now(UTC):%Y-%m-%d}", "load_seconds": load_seconds,
                                    "accounts": ACCOUNTS, "reports": timings, "export": export})
        if args.keep:
            print(f"  kept: --url {url}")
        else:
            drop_database(url)  # a 1M-row database is 0.7 GB


if __name__ == "__main__":
    main()
