"""The report rollups: which slices each usage is folded into, and the statements that do it.

Every usage adds to seven rows of usage_report_rollups (besides its row in
usage_rollups_hourly): on SQLite in one multi-row upsert in the transaction that bills it, on
PostgreSQL by the fold of the queue the charges fill (below, QUEUE_USAGE_SQL and fold):

    slice                    bucket      scope    grouped by                 read for
    QUARTERS                 15 min UTC  all      shard                      series and totals
    ACCOUNT_QUARTERS         15 min UTC  account  -                          the same, for one account
    DAYS_BY_MODEL_OP         UTC day     all      shard, version, operation  byModel, byOperation, anomalies
    DAYS_BY_ACCOUNT          UTC day     all      account                    byAccount
    ACCOUNT_DAYS_BY_MODEL_OP UTC day     account  version, operation         the same, for one account
    HOURS_BY_MODEL_OP        UTC hour    all      shard, version, operation  the hours around whole days
    HOURS_BY_ACCOUNT         UTC hour    all      account                    the same, byAccount

(For one account, the hours around whole days come from usage_rollups_hourly, keyed by
account first.)

A report reads a number of rows that depends on its range, the catalogue and the number
of accounts, never on the number of calls. Until migration 0004, PostgreSQL charges upserted
these rows themselves and spread the rows shared by all accounts over 4 shards by a hash
of the account, so that concurrent charges rarely waited on one another's row lock. Folds
take turns, so they write shard 0 only; readers add up every shard, so the rows written
before 0004 still count.
"""

from __future__ import annotations

import enum
from typing import Any

from domain.model import UsageRecord
from domain.money import CREDIT_PLACES, USD_PLACES
from domain.reports import HOUR, QUARTER_HOUR, epoch_seconds
from persistence.statements import Statement, units
from persistence.tables import REPORT_ROLLUP_KEY, REPORT_ROLLUP_SUMS

DAY = 86_400
KEY, MEASURES = REPORT_ROLLUP_KEY, REPORT_ROLLUP_SUMS


class Slice(enum.IntEnum):
    QUARTERS = 1
    ACCOUNT_QUARTERS = 2
    DAYS_BY_MODEL_OP = 3
    DAYS_BY_ACCOUNT = 4
    ACCOUNT_DAYS_BY_MODEL_OP = 5
    HOURS_BY_MODEL_OP = 6
    HOURS_BY_ACCOUNT = 7


def slice_keys(
    account_id: str, occurred_epoch: int, model_version_id: int, operation_type: str
) -> list[tuple[Any, ...]]:
    """The seven rows (their KEY values) one usage adds to, in slice order (new rows: shard 0)."""
    quarter = occurred_epoch - occurred_epoch % QUARTER_HOUR
    hour = occurred_epoch - occurred_epoch % HOUR
    day = occurred_epoch - occurred_epoch % DAY
    return [
        (Slice.QUARTERS, "", quarter, 0, "", 0, ""),
        (Slice.ACCOUNT_QUARTERS, account_id, quarter, 0, "", 0, ""),
        (Slice.DAYS_BY_MODEL_OP, "", day, 0, "", model_version_id, operation_type),
        (Slice.DAYS_BY_ACCOUNT, "", day, 0, account_id, 0, ""),
        (Slice.ACCOUNT_DAYS_BY_MODEL_OP, account_id, day, 0, "", model_version_id, operation_type),
        (Slice.HOURS_BY_MODEL_OP, "", hour, 0, "", model_version_id, operation_type),
        (Slice.HOURS_BY_ACCOUNT, "", hour, 0, account_id, 0, ""),
    ]


_ROW = "({slice}, {scope}, {bucket}, {shard}, {account}, {version}, {operation}, " + ", ".join(
    f":{name}" for name in MEASURES) + ")"
ADD_TO_REPORT_ROLLUPS_SQL = (
    f"INSERT INTO usage_report_rollups ({', '.join(KEY + MEASURES)}) VALUES "
    + ", ".join([
        _ROW.format(slice=int(Slice.QUARTERS), scope="''", bucket=":quarter", shard="0", account="''",
                    version="0", operation="''"),
        _ROW.format(slice=int(Slice.ACCOUNT_QUARTERS), scope=":account_id", bucket=":quarter", shard="0",
                    account="''", version="0", operation="''"),
        _ROW.format(slice=int(Slice.DAYS_BY_MODEL_OP), scope="''", bucket=":day", shard="0", account="''",
                    version=":model_version_id", operation=":operation_type"),
        _ROW.format(slice=int(Slice.DAYS_BY_ACCOUNT), scope="''", bucket=":day", shard="0", account=":account_id",
                    version="0", operation="''"),
        _ROW.format(slice=int(Slice.ACCOUNT_DAYS_BY_MODEL_OP), scope=":account_id", bucket=":day", shard="0",
                    account="''", version=":model_version_id", operation=":operation_type"),
        _ROW.format(slice=int(Slice.HOURS_BY_MODEL_OP), scope="''", bucket=":hour", shard="0", account="''",
                    version=":model_version_id", operation=":operation_type"),
        _ROW.format(slice=int(Slice.HOURS_BY_ACCOUNT), scope="''", bucket=":hour", shard="0", account=":account_id",
                    version="0", operation="''"),
    ])
    + f" ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET "
    + ", ".join(f"{name} = usage_report_rollups.{name} + excluded.{name}" for name in MEASURES)
)
ADD_TO_REPORT_ROLLUPS = Statement(ADD_TO_REPORT_ROLLUPS_SQL)


def report_rollup_params(record: UsageRecord) -> dict[str, Any]:
    """ADD_TO_REPORT_ROLLUPS's parameters for one usage (the same rows slice_keys names)."""
    occurred = epoch_seconds(record.occurred_at)
    return {
        "quarter": occurred - occurred % QUARTER_HOUR, "hour": occurred - occurred % HOUR,
        "day": occurred - occurred % DAY,
        "account_id": record.account_id,
        "model_version_id": record.model_version_id, "operation_type": record.operation_type,
        "calls": 1, "successful_calls": 1 if record.success else 0,
        "tokens_input": record.counts.tokens_input, "tokens_output": record.counts.tokens_output,
        "credits_used": units(record.credits_used, CREDIT_PLACES),
        "cost_usd_input": units(record.cost_usd_input, USD_PLACES),
        "cost_usd_output": units(record.cost_usd_output, USD_PLACES),
    }


# ---------------------------------------------------------------- PostgreSQL: the queue and its fold
#
# On PostgreSQL a charge does not touch the rollups: its statement inserts the usage's id into
# usage_rollup_queue (QUEUE_USAGE_SQL, in the charge's own CTEs, so it commits with the charge).
# fold() moves the whole queue into both rollup tables in one transaction: every row it deletes
# is added exactly once, because it is deleted by the statement that adds it, and a concurrent
# fold waits on an advisory lock (two folds upserting the same rollup rows in different orders
# could deadlock). It runs in the background (persistence.unit_of_work.SqlUnitOfWorkFactory,
# every FOLD_SECONDS) and before every report (persistence.reports), so a report sees every
# usage committed before it starts. Buckets are UTC, from Unix seconds: never the session's
# time zone. Folded rows go to shard 0: the fold is serialised, so no longer contended (readers
# add up every shard, and rows written to other shards before 0004 still count).

FOLD_SECONDS = 0.25
FOLD_LOCK_KEY = 0x63726D74  # "crmt": creditmeter's one advisory lock
QUEUE_USAGE_SQL = "INSERT INTO usage_rollup_queue (usage_id) SELECT id FROM ins"

_HOURLY_SUMS = ("calls", "tokens_input", "tokens_output", "tokens_cached_input", "tokens_cache_write",
                "tokens_reasoning", "images", "credits_used", "cost_usd_input", "cost_usd_output")
_HOURLY_KEY = ("bucket_start", "account_id", "model_version_id", "operation_type", "success")


def _fold_sql() -> str:
    def upsert(table: str, key: tuple[str, ...], sums: tuple[str, ...]) -> str:
        return (f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
                + ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in sums))

    hourly_sums = "count(*), " + ", ".join(f"sum(u.{name})" for name in _HOURLY_SUMS[1:])
    q, h, d = (f"u.at - mod(u.at, {step})" for step in (QUARTER_HOUR, HOUR, DAY))
    # (slice, scope, bucket, account, version, operation) per usage: slice_keys' seven rows.
    slices = ", ".join([
        f"({int(Slice.QUARTERS)}, '', {q}, '', 0, '')",
        f"({int(Slice.ACCOUNT_QUARTERS)}, u.account_id, {q}, '', 0, '')",
        f"({int(Slice.DAYS_BY_MODEL_OP)}, '', {d}, '', u.model_version_id, u.operation_type)",
        f"({int(Slice.DAYS_BY_ACCOUNT)}, '', {d}, u.account_id, 0, '')",
        f"({int(Slice.ACCOUNT_DAYS_BY_MODEL_OP)}, u.account_id, {d}, '', u.model_version_id, u.operation_type)",
        f"({int(Slice.HOURS_BY_MODEL_OP)}, '', {h}, '', u.model_version_id, u.operation_type)",
        f"({int(Slice.HOURS_BY_ACCOUNT)}, '', {h}, u.account_id, 0, '')",
    ])
    report_sums = ("count(*), count(*) FILTER (WHERE u.success), sum(u.tokens_input), sum(u.tokens_output), "
                   "sum(u.credits_used), sum(u.cost_usd_input), sum(u.cost_usd_output)")
    assert MEASURES == ("calls", "successful_calls", "tokens_input", "tokens_output", "credits_used",
                        "cost_usd_input", "cost_usd_output"), "report_sums no longer matches the measures"
    return (
        "WITH moved AS (DELETE FROM usage_rollup_queue RETURNING usage_id), "
        "u AS MATERIALIZED (SELECT r.account_id, r.model_version_id, r.operation_type, r.success, "
        + ", ".join(f"r.{name}" for name in _HOURLY_SUMS[1:])
        + ", floor(extract(epoch FROM r.occurred_at))::bigint AS at "
        "FROM usage_records r JOIN moved ON r.id = moved.usage_id), "
        f"hourly AS (INSERT INTO usage_rollups_hourly ({', '.join(_HOURLY_KEY + _HOURLY_SUMS)}) "
        f"SELECT to_timestamp({h}), u.account_id, u.model_version_id, u.operation_type, u.success, {hourly_sums} "
        "FROM u GROUP BY 1, 2, 3, 4, 5 "
        f"{upsert('usage_rollups_hourly', _HOURLY_KEY, _HOURLY_SUMS)}), "
        f"report AS (INSERT INTO usage_report_rollups ({', '.join(KEY + MEASURES)}) "
        f"SELECT k.slice, k.scope, k.bucket, 0, k.account, k.version, k.operation, {report_sums} "
        f"FROM u CROSS JOIN LATERAL (VALUES {slices}) AS k(slice, scope, bucket, account, version, operation) "
        f"GROUP BY 1, 2, 3, 4, 5, 6, 7 {upsert('usage_report_rollups', KEY, MEASURES)}) "
        "SELECT count(*) FROM moved"
    )


FOLD_SQL = _fold_sql()
assert "%" not in FOLD_SQL, "the fold runs without parameters: psycopg would read % as one"


def fold(connection: Any) -> int:
    """PostgreSQL: fold the queue into the rollups in the connection's transaction (begun if none
    is), which the caller commits. How many usages it folded."""
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({FOLD_LOCK_KEY})")
    return int(connection.exec_driver_sql(FOLD_SQL).scalar_one())
