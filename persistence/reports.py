"""The reports' read model over the rollups (ports.ReportRepository).

A range [start, end) is read in parts that add up exactly:

    local-hour series   15-minute slices over the whole quarter hours inside the range
    groups              day slices over the whole UTC days inside the range, then hour slices
      (version x operation, account)   over the whole UTC hours around those days
    both                usage_records for what is left at each end: less than an hour (less
                        than 15 minutes for the series), through ix_usage_records_occurred

So a 30-day report reads about 30 x 96 series rows (x 4 shards for PostgreSQL's days before
migration 0004), a row per day (and per edge hour) per version x operation and per account,
and raw rows only for edges off the hour: none for a report from local midnight in a zone
whose offset is whole hours, two half hours in Kolkata. None of it grows with the number of calls. Sums are integers of
the stored minor units, exact on both databases, and become Decimals once, at the end.

The SQL is written by hand, as on the hot path (statements.py): reports run a dozen short
statements whose construction through SQLAlchemy Core cost as much as running them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from domain.model import UsageRecord
from domain.money import CREDIT_PLACES, USD_PLACES
from domain.reports import HOUR, QUARTER_HOUR, Measures, ReportScope, UsageFacts, epoch_micros, from_epoch
from persistence.repositories import accounts, usage, usage_record
from persistence.rollups import DAY, Slice, fold
from persistence.statements import Statement, timestamp
from persistence.types import from_units

CSV_CHUNK_BYTES = 1024 * 1024
CSV_FETCH_ROWS = 5000  # about 1 MB of CSV
CSV_SLICE_ROWS = 5000  # SQLite: the rows a time slice is sized for (its width follows the density)
CSV_SLICE_ROWS_MAX = 4 * CSV_SLICE_ROWS  # SQLite: the most rows a slice joins in one value
CSV_FIRST_SLICE = 3_600_000_000  # SQLite: an hour, in microseconds, before anything is known of the density
CSV_COLUMNS = (
    "id", "occurredAt", "recordedAt", "accountId", "operationType", "modelName", "modelVersionId",
    "tokensInput", "tokensOutput", "tokensCachedInput", "tokensCacheWrite", "tokensReasoning", "images",
    "creditsUsed", "costUsdInput", "costUsdOutput", "costUsdTotal", "success", "tokensEstimated",
    "idempotencyKey", "metadata",
)

# As BIGINT: PostgreSQL sums integers to numeric, and a Decimal per value costs more than the sum.
_SUMS = ", ".join(f"CAST(SUM({c}) AS BIGINT)" for c in (
    "calls", "successful_calls", "tokens_input", "tokens_output", "credits_used", "cost_usd_input", "cost_usd_output"))
_HOURLY_SUMS = _SUMS.replace("SUM(successful_calls)", "SUM(CASE WHEN success THEN calls ELSE 0 END)")
_IN_SLICE = "FROM usage_report_rollups WHERE slice = :slice AND scope = :scope AND bucket_epoch >= :low " \
            "AND bucket_epoch < :high"
_BY_MODEL_OPERATION = Statement(
    f"SELECT model_version_id, operation_type, {_SUMS} {_IN_SLICE} GROUP BY model_version_id, operation_type")
_BY_ACCOUNT = Statement(f"SELECT account_id, {_SUMS} {_IN_SLICE} GROUP BY account_id")
_ACCOUNT_HOURS_BY_MODEL_OPERATION = Statement(
    f"SELECT model_version_id, operation_type, {_HOURLY_SUMS} FROM usage_rollups_hourly WHERE account_id = :account "
    "AND bucket_start >= :low AND bucket_start < :high GROUP BY model_version_id, operation_type")
_RAW = "SELECT {epoch}, account_id, model_version_id, operation_type, success, tokens_input, tokens_output, " \
       "credits_used, cost_usd_input, cost_usd_output FROM usage_records WHERE occurred_at >= :low " \
       "AND occurred_at < :high"
_EPOCH = {
    "postgresql": "CAST(FLOOR(EXTRACT(EPOCH FROM occurred_at)) AS BIGINT)",
    # SQLite's own conversion rounds fractions of a second: drop them first.
    "sqlite": "CAST(strftime('%s', substr(occurred_at, 1, 19)) AS INTEGER)",
}
_RAW_ALL = Statement(_RAW.format(epoch=_EPOCH["sqlite"]), postgresql=_RAW.format(epoch=_EPOCH["postgresql"]))
_RAW_OF_ACCOUNT = Statement(
    _RAW.format(epoch=_EPOCH["sqlite"]) + " AND account_id = :account",
    postgresql=_RAW.format(epoch=_EPOCH["postgresql"]) + " AND account_id = :account",
)


class _Sums:
    """Integer sums per key: calls, successful calls, tokens in and out, credits and costs in minor units."""

    def __init__(self) -> None:
        self.by_key: dict[Any, list[int]] = {}

    def add(self, key: Any, values: Any) -> None:
        sums = self.by_key.get(key)
        self.by_key[key] = list(values) if sums is None else [a + b for a, b in zip(sums, values, strict=True)]

    def add_rows(self, rows: list[Any], width: int) -> None:
        """Rows of `width` key columns and then the sums (a key of one column stays a scalar)."""
        for row in rows:
            self.add(row[0] if width == 1 else row[:width], row[width:])

    def measures(self) -> dict[Any, Measures]:
        return {
            key: Measures(s[0], s[1], s[2], s[3], from_units(s[4], CREDIT_PLACES), from_units(s[5], USD_PLACES),
                          from_units(s[6], USD_PLACES))
            for key, s in self.by_key.items() if s[0]
        }


def _ceil(micros: int, step: int) -> int:
    return -(-micros // (step * 1_000_000)) * step


def _floor(micros: int, step: int) -> int:
    return micros // (step * 1_000_000) * step


class SqlReportRepository:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    # ------------------------------------------------------------ aggregates

    def usage_facts(self, scope: ReportScope) -> UsageFacts:
        self._fold_queue()
        self._one_snapshot()
        start, end = epoch_micros(scope.start), epoch_micros(scope.end)
        quarters = (_ceil(start, QUARTER_HOUR), _floor(end, QUARTER_HOUR))
        hours = (_ceil(start, HOUR), _floor(end, HOUR))
        days = (_ceil(hours[0] * 1_000_000, DAY), _floor(hours[1] * 1_000_000, DAY))
        whole_quarters = quarters if quarters[0] < quarters[1] else None
        whole_hours = hours if hours[0] < hours[1] else None
        whole_days = days if whole_hours and days[0] < days[1] else None

        by_hour, groups, by_account = _Sums(), _Sums(), _Sums()
        series_read = self._alongside(
            lambda repository: repository._series(scope, whole_quarters, by_hour) if whole_quarters else None)
        try:
            if whole_days:
                self._groups(scope, *whole_days, groups, by_account, daily=True)
            if whole_hours:
                edges = ([(whole_hours[0], whole_days[0]), (whole_days[1], whole_hours[1])] if whole_days
                         else [whole_hours])
                for low, high in edges:
                    if low < high:
                        self._groups(scope, low, high, groups, by_account, daily=False)
        finally:
            series_read()
        raw = ([(scope.start, from_epoch(whole_hours[0])), (from_epoch(whole_hours[1]), scope.end)] if whole_hours
               else [(scope.start, scope.end)])
        for low_time, high_time in raw:
            if low_time < high_time:
                self._raw(scope, low_time, high_time, whole_quarters, by_hour, groups, by_account)

        if scope.account_id is not None:  # its slices are not split by account: it is the one
            by_account = _Sums()
            for sums in groups.by_key.values():
                by_account.add(scope.account_id, sums)
        return UsageFacts(by_hour.measures(), groups.measures(), by_account.measures())

    def _fold_queue(self) -> None:
        """PostgreSQL: fold the usages charges have queued (persistence.rollups.fold), committed
        before the report's snapshot is taken, so the report counts every usage billed before it.
        Inside a transaction already open the fold is that transaction's, seen by its reads."""
        if self._connection.dialect.name != "postgresql":
            return
        if self._connection.in_transaction():
            fold(self._connection)
            return
        with self._connection.begin():
            fold(self._connection)

    def _one_snapshot(self) -> None:
        # PostgreSQL gives each statement its own snapshot under READ COMMITTED; the parts of a
        # report must agree with one another. (A SQLite read transaction is one snapshot already.)
        if self._connection.dialect.name == "postgresql" and not self._connection.in_transaction():
            self._connection.execution_options(isolation_level="REPEATABLE READ")

    def _alongside(self, read: Callable[[SqlReportRepository], None]) -> Callable[[], None]:
        """Start `read`; the returned function waits for it. On PostgreSQL it runs on a second
        connection that shares this transaction's snapshot (pg_export_snapshot), so the two
        halves of a report are read by two server processes at once and still agree."""
        if self._connection.dialect.name != "postgresql":
            read(self)
            return lambda: None
        snapshot = str(self._connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())

        def on_the_snapshot() -> None:
            with self._connection.engine.connect() as connection:
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
                connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                read(SqlReportRepository(connection))
                connection.rollback()

        worker = ThreadPoolExecutor(1)
        reading = worker.submit(on_the_snapshot)

        def wait() -> None:
            try:
                reading.result()
            finally:
                worker.shutdown()

        return wait

    def _series(self, scope: ReportScope, quarters: tuple[int, int], by_hour: _Sums) -> None:
        # The zone's offsets are constants of the text (ints, never user input): per zone and
        # range the same statement, which PostgreSQL prepares once used twice.
        series = Statement(
            f"SELECT (bucket_epoch + {_offset_at(scope)}) / {HOUR}, {_SUMS} {_IN_SLICE} GROUP BY 1")
        slice_, scope_key = (Slice.QUARTERS, "") if scope.account_id is None else (
            Slice.ACCOUNT_QUARTERS, scope.account_id)
        by_hour.add_rows(self._fetch(series, {"slice": int(slice_), "scope": scope_key, "low": quarters[0],
                                              "high": quarters[1]}), 1)

    def _groups(self, scope: ReportScope, low: int, high: int, groups: _Sums, by_account: _Sums, *,
                daily: bool) -> None:
        """Version x operation (and account) sums over whole days, or over whole hours."""
        if scope.account_id is None:
            model_slice, account_slice = ((Slice.DAYS_BY_MODEL_OP, Slice.DAYS_BY_ACCOUNT) if daily
                                          else (Slice.HOURS_BY_MODEL_OP, Slice.HOURS_BY_ACCOUNT))
            window = {"scope": "", "low": low, "high": high}
            groups.add_rows(self._fetch(_BY_MODEL_OPERATION, {**window, "slice": int(model_slice)}), 2)
            by_account.add_rows(self._fetch(_BY_ACCOUNT, {**window, "slice": int(account_slice)}), 1)
        elif daily:
            window = {"scope": scope.account_id, "low": low, "high": high, "slice": int(Slice.ACCOUNT_DAYS_BY_MODEL_OP)}
            groups.add_rows(self._fetch(_BY_MODEL_OPERATION, window), 2)
        else:  # one account's hours: usage_rollups_hourly, keyed by account first
            window = {"account": scope.account_id, "low": timestamp(self._connection, from_epoch(low)),
                      "high": timestamp(self._connection, from_epoch(high))}
            groups.add_rows(self._fetch(_ACCOUNT_HOURS_BY_MODEL_OPERATION, window), 2)

    def _fetch(self, statement: Statement, params: dict[str, Any]) -> list[Any]:
        return list(statement.run(self._connection, params).fetchall())

    def _raw(self, scope: ReportScope, low: datetime, high: datetime, whole_quarters: tuple[int, int] | None,
             by_hour: _Sums, groups: _Sums, by_account: _Sums) -> None:
        statement, params = _RAW_ALL, {"low": timestamp(self._connection, low),
                                       "high": timestamp(self._connection, high)}
        if scope.account_id is not None:
            statement, params = _RAW_OF_ACCOUNT, {**params, "account": scope.account_id}
        edge = _Sums()  # by account x version x operation, then folded into the two groupings
        for seconds, account, version, operation, success, *measures in self._fetch(statement, params):
            values = (1, 1 if success else 0, *measures)
            edge.add((account, version, operation), values)
            if whole_quarters is None or not whole_quarters[0] <= seconds < whole_quarters[1]:
                by_hour.add(scope.local_hour(seconds), values)
        for (account, version, operation), sums in edge.by_key.items():
            groups.add((version, operation), sums)
            by_account.add(account, sums)

    # ------------------------------------------------------------ raw rows

    def costly_calls(self, scope: ReportScope, thresholds: Mapping[int, Decimal], limit: int) -> list[UsageRecord]:
        if limit <= 0 or not thresholds:
            return []
        account = "" if scope.account_id is None else "account_id = :account_id AND "
        params = {"start": timestamp(self._connection, scope.start), "end": timestamp(self._connection, scope.end),
                  "account_id": scope.account_id, "limit": limit}
        versions = sorted(thresholds.items())
        if self._connection.dialect.name == "postgresql":  # every version in one round trip
            params |= {"versions": [v for v, _ in versions],
                       "thresholds": [int(t.scaleb(USD_PLACES)) for _, t in versions]}
            candidates = self._fetch(Statement(_COSTLY_CALLS_BY_VERSION.format(account=account)), params)
        else:
            candidates = []
            statement = Statement(_COSTLY_CALLS.format(account=account, version=":version", threshold=":threshold"))
            for version_id, threshold in versions:
                candidates += self._fetch(statement, {**params, "version": version_id,
                                                      "threshold": int(threshold.scaleb(USD_PLACES))})
        chosen = [row[2] for row in sorted(candidates, reverse=True)[:limit]]
        rows = self._connection.execute(select(usage).where(usage.c.id.in_(chosen))).all()
        return [usage_record(row) for row in rows]

    def account_names(self, account_ids: Collection[str]) -> dict[str, str]:
        if not account_ids:
            return {}
        rows = self._connection.execute(select(accounts.c.id, accounts.c.name).where(accounts.c.id.in_(account_ids)))
        return {row[0]: row[1] for row in rows}

    def usage_csv(self, start: datetime, end: datetime, account_id: str | None) -> Iterator[bytes]:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if not self._connection.in_transaction():
            self._connection.begin()
        if self._connection.dialect.name == "postgresql":
            return self._postgres_csv(start, end, account_id)
        return self._sqlite_csv(start, end, account_id)

    def _postgres_csv(self, start: datetime, end: datetime, account_id: str | None) -> Iterator[bytes]:
        from psycopg import sql

        driver = self._connection.connection.driver_connection
        assert driver is not None
        copy_sql = sql.SQL(
            "COPY (SELECT {columns} FROM usage_records WHERE occurred_at >= {start} AND occurred_at < {end}"
            "{account} ORDER BY occurred_at, id) TO STDOUT WITH (FORMAT csv, HEADER true)"
        ).format(
            columns=sql.SQL(", ".join(f'{expression} AS "{name}"' for name, expression in _POSTGRES_CSV)),
            start=sql.Literal(start), end=sql.Literal(end),
            account=sql.SQL(" AND account_id = {}").format(sql.Literal(account_id)) if account_id else sql.SQL(""),
        )
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            pending = bytearray()
            for block in copy:
                pending += block
                if len(pending) >= CSV_CHUNK_BYTES:
                    yield bytes(pending)
                    pending.clear()
            if pending:
                yield bytes(pending)

    def _sqlite_csv(self, start: datetime, end: datetime, account_id: str | None) -> Iterator[bytes]:
        """The rows formatted by SQLite (printf, in C), a time slice of about CSV_SLICE_ROWS rows at
        a time: one statement per slice whose one value is the slice's lines, joined in order by
        group_concat. SQLite formats a row in about 4 us with the GIL released; fetched a row at a
        time, the GIL changed hands a million times per million rows with the thread sending them,
        here once per slice, and Python never handles a row. Each slice's width
        follows the density of the one before, changing 4x at most; a slice denser than that
        (more than CSV_SLICE_ROWS_MAX rows) has the rest of its rows fetched CSV_FETCH_ROWS at a time."""
        driver = self._connection.connection.driver_connection
        assert driver is not None
        where = "occurred_at >= ? AND occurred_at < ?" + (" AND account_id = ?" if account_id else "")
        lines = f"SELECT {_SQLITE_CSV_LINE} AS line FROM usage_records WHERE {where} ORDER BY occurred_at, id"
        # Never flattened into the aggregate (a subquery with ORDER BY under an aggregate is not):
        # group_concat takes the lines in their order.
        joined = f"SELECT CAST(group_concat(line, char(10)) || char(10) AS BLOB), count(*) FROM ({lines} LIMIT ?)"
        rest = f"{lines} LIMIT -1 OFFSET ?"
        account = [account_id] if account_id else []
        low, high = epoch_micros(start), epoch_micros(end)
        width = max(1, min(high - low, CSV_FIRST_SLICE))
        cursor = driver.cursor()
        try:
            yield ",".join(CSV_COLUMNS).encode() + b"\n"
            while low < high:
                bounds = [_sqlite_stamp(low), _sqlite_stamp(min(high, low + width)), *account]
                chunk, count = cursor.execute(joined, [*bounds, CSV_SLICE_ROWS_MAX]).fetchone()
                if count:
                    yield chunk
                if count == CSV_SLICE_ROWS_MAX:
                    cursor.execute(rest, [*bounds, CSV_SLICE_ROWS_MAX])
                    while rows := cursor.fetchmany(CSV_FETCH_ROWS):
                        rows.append(("",))
                        yield "\n".join([row[0] for row in rows]).encode()
                low += width
                width = max(1, width // 4, min(width * 4, width * CSV_SLICE_ROWS // count if count else width * 4))
        finally:
            cursor.close()


def _sqlite_stamp(micros: int) -> str:
    """How SQLite holds a UtcDateTime (persistence/types.py)."""
    return (_UNIX_EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%d %H:%M:%S.%f")


_UNIX_EPOCH = datetime(1970, 1, 1)


# A version's calls from the most expensive down, the range checked in ix_usage_records_model_cost
# (or _account_model_cost): the walk stops after `limit` matches.
_COSTLY_CALLS = (
    "SELECT cost_usd_total, occurred_at, id FROM usage_records WHERE {account}model_version_id = {version} "
    "AND cost_usd_total > {threshold} AND occurred_at >= :start AND occurred_at < :end "
    "ORDER BY cost_usd_total DESC, occurred_at DESC LIMIT :limit"
)
_COSTLY_CALLS_BY_VERSION = (
    "SELECT costly.* FROM unnest(CAST(:versions AS BIGINT[]), CAST(:thresholds AS BIGINT[])) AS v(version, threshold) "
    "CROSS JOIN LATERAL (" + _COSTLY_CALLS.replace("{version}", "v.version").replace("{threshold}", "v.threshold")
    + ") AS costly"
)


def _offset_at(scope: ReportScope) -> str:
    """The zone's offset at a bucket's start, as SQL: a constant, or a CASE over the DST changes."""
    spans = scope.spans
    if len(spans) == 1:
        return str(int(spans[0].offset))
    changes = " ".join(f"WHEN bucket_epoch < {int(later.start)} THEN {int(earlier.offset)}"
                       for earlier, later in zip(spans, spans[1:], strict=False))
    return f"CASE {changes} ELSE {int(spans[-1].offset)} END"


def _quoted(column: str) -> str:
    """A text column as a CSV field (RFC 4180), in SQLite."""
    special = " OR ".join(f"instr({column}, {ch})" for ch in ("'\"'", "','", "char(10)", "char(13)"))
    return f"""CASE WHEN {special} THEN '"' || replace({column}, '"', '""') || '"' ELSE {column} END"""


def _flag(column: str) -> str:
    return f"CASE WHEN {column} THEN 'true' ELSE 'false' END"


# Decimals at their stored scale (credits 4 places, dollars 10), exact; timestamps ISO 8601 UTC with
# microseconds. Usage amounts are never negative (DOMAIN.md: counts and stated costs are >= 0).
_POSTGRES_CSV = [
    ("id", "id"),
    ("occurredAt", "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"),
    ("recordedAt", "to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"),
    ("accountId", "account_id"), ("operationType", "operation_type"), ("modelName", "model_name"),
    ("modelVersionId", "model_version_id"), ("tokensInput", "tokens_input"), ("tokensOutput", "tokens_output"),
    ("tokensCachedInput", "tokens_cached_input"), ("tokensCacheWrite", "tokens_cache_write"),
    ("tokensReasoning", "tokens_reasoning"), ("images", "images"),
    ("creditsUsed", f"credits_used * 1e-{CREDIT_PLACES}::numeric"),
    ("costUsdInput", f"cost_usd_input * 1e-{USD_PLACES}::numeric"),
    ("costUsdOutput", f"cost_usd_output * 1e-{USD_PLACES}::numeric"),
    ("costUsdTotal", f"cost_usd_total * 1e-{USD_PLACES}::numeric"),
    ("success", _flag("success")), ("tokensEstimated", _flag("tokens_estimated")),
    ("idempotencyKey", "idempotency_key"), ("metadata", "NULLIF(metadata::text, 'null')"),
]
assert tuple(name for name, _ in _POSTGRES_CSV) == CSV_COLUMNS

# SQLite: one printf per row (joined per slice, _sqlite_csv). Building the line in C is what keeps up 200K rows/s;
# formatting 21 values per row in Python costs twice that. Only the key and the metadata can
# hold a comma, a quote or a line break (names and ids are validated), so only they are quoted.
_USD_UNIT, _CREDIT_UNIT = 10**USD_PLACES, 10**CREDIT_PLACES
_SQLITE_CSV_LINE = "printf('{pattern}', {values})".format(
    pattern=f"%d,%.10sT%sZ,%.10sT%sZ,%s,%s,%s,%d,%d,%d,%d,%d,%d,%d,%d.%0{CREDIT_PLACES}d,"
    + ",".join([f"%d.%0{USD_PLACES}d"] * 3) + ",%s,%s,%s,%s",
    values=", ".join([
        "id", "occurred_at", "substr(occurred_at, 12)", "recorded_at", "substr(recorded_at, 12)",
        "account_id", "operation_type", "model_name", "model_version_id", "tokens_input", "tokens_output",
        "tokens_cached_input", "tokens_cache_write", "tokens_reasoning", "images",
        f"credits_used / {_CREDIT_UNIT}", f"credits_used % {_CREDIT_UNIT}",
        *(f"{column} {op} {_USD_UNIT}" for column in ("cost_usd_input", "cost_usd_output", "cost_usd_total")
          for op in ("/", "%")),
        _flag("success"), _flag("tokens_estimated"), _quoted("idempotency_key"),
        "coalesce(" + _quoted("NULLIF(metadata, 'null')") + ", '')",
    ]),
)
