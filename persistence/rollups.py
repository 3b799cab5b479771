"""The report rollups: which slices each usage is folded into, and the one statement that does it.

Every usage adds to seven rows of usage_report_rollups, in one multi-row upsert, in the
transaction that bills it (besides its row in usage_rollups_hourly):

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
of accounts, never on the number of calls. On PostgreSQL, rows shared by all accounts are
spread over SHARDS rows by a hash of the account: concurrent charges of different accounts
then rarely wait on one another's row lock, and charges of one account already queue on
its balance. (SQLite has one writer at a time, so there it keeps one row: fewer to read.)
Rows are written in slice order, so two transactions never take the same locks in opposite
orders. Readers add up every shard.
"""

from __future__ import annotations

import enum
import zlib
from typing import Any

from domain.model import UsageRecord
from domain.money import CREDIT_PLACES, USD_PLACES
from domain.reports import HOUR, QUARTER_HOUR, epoch_seconds
from persistence.statements import Statement, units
from persistence.tables import REPORT_ROLLUP_KEY, REPORT_ROLLUP_SUMS

DAY = 86_400
SHARDS = 4
KEY, MEASURES = REPORT_ROLLUP_KEY, REPORT_ROLLUP_SUMS


class Slice(enum.IntEnum):
    QUARTERS = 1
    ACCOUNT_QUARTERS = 2
    DAYS_BY_MODEL_OP = 3
    DAYS_BY_ACCOUNT = 4
    ACCOUNT_DAYS_BY_MODEL_OP = 5
    HOURS_BY_MODEL_OP = 6
    HOURS_BY_ACCOUNT = 7


def shards_for(dialect: str) -> int:
    return SHARDS if dialect == "postgresql" else 1


def shard_of(account_id: str, shards: int) -> int:
    return zlib.crc32(account_id.encode()) % shards


def slice_keys(
    account_id: str, occurred_epoch: int, model_version_id: int, operation_type: str, shards: int
) -> list[tuple[Any, ...]]:
    """The seven rows (their KEY values) one usage adds to, in slice order."""
    quarter = occurred_epoch - occurred_epoch % QUARTER_HOUR
    hour = occurred_epoch - occurred_epoch % HOUR
    day = occurred_epoch - occurred_epoch % DAY
    shard = shard_of(account_id, shards)
    return [
        (Slice.QUARTERS, "", quarter, shard, "", 0, ""),
        (Slice.ACCOUNT_QUARTERS, account_id, quarter, 0, "", 0, ""),
        (Slice.DAYS_BY_MODEL_OP, "", day, shard, "", model_version_id, operation_type),
        (Slice.DAYS_BY_ACCOUNT, "", day, 0, account_id, 0, ""),
        (Slice.ACCOUNT_DAYS_BY_MODEL_OP, account_id, day, 0, "", model_version_id, operation_type),
        (Slice.HOURS_BY_MODEL_OP, "", hour, shard, "", model_version_id, operation_type),
        (Slice.HOURS_BY_ACCOUNT, "", hour, 0, account_id, 0, ""),
    ]


_ROW = "({slice}, {scope}, {bucket}, {shard}, {account}, {version}, {operation}, " + ", ".join(
    f":{name}" for name in MEASURES) + ")"
ADD_TO_REPORT_ROLLUPS_SQL = (
    f"INSERT INTO usage_report_rollups ({', '.join(KEY + MEASURES)}) VALUES "
    + ", ".join([
        _ROW.format(slice=int(Slice.QUARTERS), scope="''", bucket=":quarter", shard=":shard", account="''",
                    version="0", operation="''"),
        _ROW.format(slice=int(Slice.ACCOUNT_QUARTERS), scope=":account_id", bucket=":quarter", shard="0",
                    account="''", version="0", operation="''"),
        _ROW.format(slice=int(Slice.DAYS_BY_MODEL_OP), scope="''", bucket=":day", shard=":shard", account="''",
                    version=":model_version_id", operation=":operation_type"),
        _ROW.format(slice=int(Slice.DAYS_BY_ACCOUNT), scope="''", bucket=":day", shard="0", account=":account_id",
                    version="0", operation="''"),
        _ROW.format(slice=int(Slice.ACCOUNT_DAYS_BY_MODEL_OP), scope=":account_id", bucket=":day", shard="0",
                    account="''", version=":model_version_id", operation=":operation_type"),
        _ROW.format(slice=int(Slice.HOURS_BY_MODEL_OP), scope="''", bucket=":hour", shard=":shard", account="''",
                    version=":model_version_id", operation=":operation_type"),
        _ROW.format(slice=int(Slice.HOURS_BY_ACCOUNT), scope="''", bucket=":hour", shard="0", account=":account_id",
                    version="0", operation="''"),
    ])
    + f" ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET "
    + ", ".join(f"{name} = usage_report_rollups.{name} + excluded.{name}" for name in MEASURES)
)
ADD_TO_REPORT_ROLLUPS = Statement(ADD_TO_REPORT_ROLLUPS_SQL)


def report_rollup_params(record: UsageRecord, shards: int) -> dict[str, Any]:
    """ADD_TO_REPORT_ROLLUPS's parameters for one usage (the same rows slice_keys names)."""
    occurred = epoch_seconds(record.occurred_at)
    return {
        "quarter": occurred - occurred % QUARTER_HOUR, "hour": occurred - occurred % HOUR,
        "day": occurred - occurred % DAY,
        "shard": shard_of(record.account_id, shards), "account_id": record.account_id,
        "model_version_id": record.model_version_id, "operation_type": record.operation_type,
        "calls": 1, "successful_calls": 1 if record.success else 0,
        "tokens_input": record.counts.tokens_input, "tokens_output": record.counts.tokens_output,
        "credits_used": units(record.credits_used, CREDIT_PLACES),
        "cost_usd_input": units(record.cost_usd_input, USD_PLACES),
        "cost_usd_output": units(record.cost_usd_output, USD_PLACES),
    }
