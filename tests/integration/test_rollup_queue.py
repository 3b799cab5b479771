"""The rollups hold every billed usage exactly once, however and whenever they are folded.

On PostgreSQL a charge only queues its usage (usage_rollup_queue) and persistence.rollups.fold
moves the queue into the rollups: in the background, before every report, and here from
several threads at once while charges run. On SQLite the charge writes the rollups itself.
Either way the rollup tables must equal sums computed here from the raw usage rows.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from domain import services
from domain.model import TokenCounts
from domain.reports import HOUR, epoch_seconds, report_scope
from persistence.repositories import hourly, usage
from persistence.rollups import fold, slice_keys
from persistence.tables import ReportRollupRow
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import Database, FixedClock

report_rollups = ReportRollupRow.__table__  # type: ignore[attr-defined]
MODELS = ("gpt-4o-mini", "claude-haiku-4-5", None)
OPERATIONS = ("content", "ideas", "linker")
# Kolkata is UTC+05:30: its local hours are not UTC hours, so a bucket taken in the session's
# or the caller's zone would show.
KOLKATA = ZoneInfo("Asia/Kolkata")


def _request(account_id: str, index: int, now: datetime) -> services.UsageRequest:
    occurred = (now - timedelta(minutes=7 * index + 3)).astimezone(KOLKATA if index % 2 else UTC)
    return services.UsageRequest(
        f"fold-{account_id}-{index}", account_id, OPERATIONS[index % 3],
        TokenCounts(tokens_input=100 + index, tokens_output=7 * index, tokens_cached_input=index % 5),
        model_name=MODELS[index % 3] if OPERATIONS[index % 3] != "linker" else None,
        success=index % 4 != 0, occurred_at=occurred,
    )


def _expected(factory: SqlUnitOfWorkFactory) -> tuple[dict[Any, list[Any]], dict[Any, list[Any]]]:
    """Both rollup tables as the raw usage rows say they must be (every shard added up)."""
    report: dict[Any, list[Any]] = defaultdict(lambda: [0] * 7)
    by_hour: dict[Any, list[Any]] = defaultdict(lambda: [0] * 10)
    with factory() as uow:
        for row in uow.connection.execute(select(usage)):
            at = epoch_seconds(row.occurred_at)
            for key in slice_keys(row.account_id, at, row.model_version_id, row.operation_type):
                sums = report[key]
                for i, value in enumerate((1, 1 if row.success else 0, row.tokens_input, row.tokens_output,
                                           row.credits_used, row.cost_usd_input, row.cost_usd_output)):
                    sums[i] += value
            bucket = datetime.fromtimestamp(at - at % HOUR, UTC)
            sums = by_hour[(bucket, row.account_id, row.model_version_id, row.operation_type, row.success)]
            for i, value in enumerate((1, row.tokens_input, row.tokens_output, row.tokens_cached_input,
                                       row.tokens_cache_write, row.tokens_reasoning, row.images, row.credits_used,
                                       row.cost_usd_input, row.cost_usd_output)):
                sums[i] += value
    return dict(report), dict(by_hour)


def _stored(factory: SqlUnitOfWorkFactory) -> tuple[dict[Any, list[Any]], dict[Any, list[Any]]]:
    r = report_rollups.c
    with factory() as uow:
        c = uow.connection
        report = {(*row[:3], 0, *row[3:6]): list(row[6:]) for row in c.execute(  # every shard as one
            select(r.slice, r.scope, r.bucket_epoch, r.account_id,
                   r.model_version_id, r.operation_type, func.sum(r.calls), func.sum(r.successful_calls),
                   func.sum(r.tokens_input), func.sum(r.tokens_output), func.sum(r.credits_used),
                   func.sum(r.cost_usd_input), func.sum(r.cost_usd_output))
            .group_by(r.slice, r.scope, r.bucket_epoch, r.account_id, r.model_version_id, r.operation_type))}
        by_hour = {(row.bucket_start, row.account_id, row.model_version_id, row.operation_type, row.success): [
            row.calls, row.tokens_input, row.tokens_output, row.tokens_cached_input, row.tokens_cache_write,
            row.tokens_reasoning, row.images, row.credits_used, row.cost_usd_input, row.cost_usd_output]
            for row in c.execute(select(hourly))}
    return report, by_hour


def _normalised(sums: dict[Any, list[Any]]) -> dict[Any, list[int]]:
    """Money as its integer minor units: the sums over raw rows are Decimals, the stored ones too."""
    return {key: [int(D(value).scaleb(10)) for value in values] for key, values in sums.items()}


def _queued(factory: SqlUnitOfWorkFactory) -> int:
    with factory() as uow:
        return int(uow.connection.execute(text("SELECT count(*) FROM usage_rollup_queue")).scalar_one())


def test_concurrent_folds_add_every_usage_exactly_once(
    seeded: SqlUnitOfWorkFactory, clock: FixedClock, database: Database
) -> None:
    accounts = [services.create_account(seeded(), clock, f"Fold {i}", D(1_000_000)).id for i in range(3)]
    charging = threading.Event()
    moved: list[int] = []

    def charge(index: int) -> None:
        services.record_usage(seeded(), clock, _request(accounts[index % 3], index, clock.now()))

    def keep_folding() -> None:
        # Another session time zone on each folder: buckets are UTC whatever the session says.
        while charging.is_set():
            with seeded.engine.begin() as connection:
                connection.exec_driver_sql("SET LOCAL TIME ZONE 'Asia/Kolkata'")
                moved.append(fold(connection))

    charging.set()
    folders = [threading.Thread(target=keep_folding) for _ in range(3 if database.kind == "postgres" else 0)]
    for folder in folders:
        folder.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(charge, range(120)))
    finally:
        charging.clear()
        for folder in folders:
            folder.join()
    if database.kind == "postgres":
        with seeded.engine.begin() as connection:
            moved.append(fold(connection))
        assert sum(moved) == 120 and max(moved) < 120  # each queued usage moved by exactly one of many folds
    assert _queued(seeded) == 0
    expected, stored = _expected(seeded), _stored(seeded)
    assert len(expected[0]) > 20 and _normalised(stored[0]) == _normalised(expected[0])
    assert _normalised(stored[1]) == _normalised(expected[1])


def test_a_report_right_after_a_charge_counts_it(seeded: SqlUnitOfWorkFactory, clock: FixedClock,
                                                database: Database) -> None:
    account = services.create_account(seeded(), clock, "Right after", D(1000)).id
    services.record_usage(seeded(), clock, _request(account, 1, clock.now()))
    scope = report_scope(clock.now() - timedelta(days=2), clock.now() + timedelta(hours=1), None, "UTC")
    if database.kind == "postgres":
        assert _queued(seeded) == 1 and _stored(seeded) == ({}, {})  # queued, not yet folded
    with seeded(read_only=True) as uow:
        facts = uow.reports.usage_facts(scope)
    assert sum(m.calls for m in facts.by_account.values()) == 1
    assert _queued(seeded) == 0
    assert _normalised(_stored(seeded)[0]) == _normalised(_expected(seeded)[0])


def test_the_server_folds_in_the_background(seeded: SqlUnitOfWorkFactory, clock: FixedClock,
                                            database: Database) -> None:
    if database.kind != "postgres":
        pytest.skip("SQLite writes the rollups in the charge")
    account = services.create_account(seeded(), clock, "Background", D(1000)).id

    async def run() -> float:
        assert seeded.attach_loop_engine()
        try:
            await asyncio.to_thread(services.record_usage, seeded(), clock, _request(account, 2, clock.now()))
            started = time.monotonic()
            while await asyncio.to_thread(_queued, seeded) and time.monotonic() - started < 5:
                await asyncio.sleep(0.05)
            return time.monotonic() - started
        finally:
            await seeded.detach_loop_engine()

    waited = asyncio.run(run())
    assert _queued(seeded) == 0, f"still queued after {waited:.1f} s"
    assert _normalised(_stored(seeded)[0]) == _normalised(_expected(seeded)[0])
