"""CSV over HTTP, with the same API keys and the same access rules as the reports.

    GET /exports/usage.csv?from&to[&accountId]                       raw usage rows, streamed
    GET /exports/token-usage.csv?from&to[&accountId][&timezone]      tokenUsageReport's tables
    GET /exports/cost-analysis.csv?from&to[&accountId][&timezone][&factor]   aiCostAnalysis's tables

Every file has one header row. A report file is every table of the report, one row per
line, named in the first column (`table`); columns a table does not have stay empty.
Decimals are exact (no trailing zeros), timestamps ISO 8601 in UTC, quoting per RFC 4180.
A missing key is 401, a key that may not see the account 403, a bad parameter 400.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from typing import Any, cast

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Send

from api.auth import UNAUTHENTICATED, authenticate
from api.context import UnitOfWorkFactory
from api.reports import (
    DEFAULT_ACCOUNTS,
    DEFAULT_ANOMALIES,
    DEFAULT_FACTOR,
    DEFAULT_MODELS,
    DEFAULT_OPERATIONS,
    ReportView,
    report_account,
    reports_of,
)
from api.scalars import parse_datetime, serialize_decimal
from domain import reports
from domain.errors import BillingError, Forbidden, InvalidInput
from domain.model import Caller
from domain.reports import Rank

Export = Callable[[Request, Caller, UnitOfWorkFactory], Awaitable[Response]]
CSV = "text/csv; charset=utf-8"

TOKEN_USAGE_COLUMNS = (
    "table", "key", "label", "bucket", "weekday", "hour", "calls", "successfulCalls", "successRate",
    "tokensInput", "tokensOutput", "tokensTotal", "creditsUsed", "costUsd", "costPer1kTokens", "avgTokensPerCall",
    "outputPerInputToken", "share",
)
COST_ANALYSIS_COLUMNS = (
    "table", "key", "label", "bucket", "provider", "usageId", "occurredAt", "calls", "successRate", "tokensInput",
    "tokensOutput", "tokensTotal", "avgTokensPerCall", "creditsUsed", "costUsd", "costUsdInput", "costUsdOutput",
    "avgCostPerCall", "costPer1kTokens", "revenueUsd", "marginUsd", "efficiencyScore", "share", "method",
    "runRateDailyUsd", "trendDailyUsd", "projected30DaysUsd", "averageCostUsd", "factor",
)


def routes(state: dict[str, Any]) -> list[Route]:
    return [
        Route("/exports/usage.csv", _guarded(state, _usage), methods=["GET"]),
        Route("/exports/token-usage.csv", _guarded(state, _token_usage), methods=["GET"]),
        Route("/exports/cost-analysis.csv", _guarded(state, _cost_analysis), methods=["GET"]),
    ]


def _guarded(state: dict[str, Any], export: Export) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        uow_factory: UnitOfWorkFactory = state["uow_factory"]
        caller = await authenticate(request, uow_factory, state["key_cache"])
        if caller is None:
            return PlainTextResponse(UNAUTHENTICATED, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            return await export(request, caller, uow_factory)
        except Forbidden as error:
            return PlainTextResponse(error.message, status_code=403)
        except BillingError as error:
            return PlainTextResponse(error.message, status_code=400)

    return endpoint


# ---------------------------------------------------------------- raw usage


async def _usage(request: Request, caller: Caller, uow_factory: UnitOfWorkFactory) -> Response:
    start, end = reports.check_range(_time(request, "from"), _time(request, "to"))
    account = report_account(caller, request.query_params.get("accountId") or None)

    def chunks() -> Iterator[bytes]:
        with uow_factory(read_only=True) as uow:
            yield from reports_of(uow).usage_csv(start, end, account)

    return _ClosingStream(pumped(chunks, PUMP_DEPTH), media_type=CSV, headers=_attachment("usage.csv"))


PUMP_DEPTH = 2  # chunks (about 1 MB each) made ahead of the socket


async def pumped(produce: Callable[[], Iterator[bytes]], depth: int) -> AsyncIterator[bytes]:
    """`produce()`'s chunks, made on a thread of their own up to `depth` ahead of the reader.

    The database works while the event loop sends the chunks before, with no thread hop per
    chunk. When the reader stops early (the client left: the stream is cancelled or closed)
    the thread is told to stop and closes the iterator, and with it the cursor and the
    connection, at its next chunk."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[object] = asyncio.Queue()
    room = threading.Semaphore(depth)
    stop = threading.Event()

    def hand(item: object) -> bool:
        try:
            loop.call_soon_threadsafe(ready.put_nowait, item)
            return True
        except RuntimeError:  # the loop is closed: nobody reads
            return False

    def pump() -> None:
        try:
            with closing(produce()) as chunks:
                for chunk in chunks:
                    room.acquire()
                    if stop.is_set() or not hand(chunk):
                        return
            hand(_DONE)
        except BaseException as error:
            hand(_Failure(error))

    threading.Thread(target=pump, name="usage-csv-pump", daemon=True).start()
    try:
        while (item := await ready.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.error
            room.release()
            yield cast(bytes, item)
    finally:
        stop.set()
        room.release()  # a pump waiting for room wakes and finds it stopped


_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _ClosingStream(StreamingResponse):
    """Closes its iterator however the response ends, so a producer stops when a client leaves
    even where the server reports the departure as an error from send() (ASGI 2.4)."""

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            await cast(AsyncGenerator[bytes, None], self.body_iterator).aclose()


# ---------------------------------------------------------------- reports


def _scope(request: Request, caller: Caller) -> reports.ReportScope:
    account = report_account(caller, request.query_params.get("accountId") or None)
    return reports.report_scope(_time(request, "from"), _time(request, "to"), account,
                                request.query_params.get("timezone") or "UTC")


async def _token_usage(request: Request, caller: Caller, uow_factory: UnitOfWorkFactory) -> Response:
    scope = _scope(request, caller)

    def tables() -> str:
        with uow_factory(read_only=True) as uow:
            repository = reports_of(uow)
            view = ReportView(scope, repository.usage_facts(scope), uow.catalogue.snapshot())
            accounts = view.labelled_accounts(repository, Rank.TOKENS, DEFAULT_ACCOUNTS)
        rows: list[dict[str, Any]] = [{"table": "totals", **_usage_measures(view.facts.totals())}]
        rows += _ranked("byModel", view.by_model(Rank.TOKENS, DEFAULT_MODELS))
        rows += _ranked("byOperation", view.by_operation(Rank.TOKENS, DEFAULT_OPERATIONS))
        rows += _ranked("byAccount", accounts)
        rows += [{"table": "daily", **_point(point, daily=True)} for point in view.daily()]
        rows += [{"table": "hourly", **_point(point, daily=False)} for point in view.hourly()]
        rows += [{"table": "heatmap", "weekday": cell.weekday, "hour": cell.hour, **_usage_measures(cell.measures)}
                 for cell in reports.heatmap(view.facts)]
        return _csv(TOKEN_USAGE_COLUMNS, rows)

    return Response(await anyio.to_thread.run_sync(tables), media_type=CSV, headers=_attachment("token-usage.csv"))


async def _cost_analysis(request: Request, caller: Caller, uow_factory: UnitOfWorkFactory) -> Response:
    scope = _scope(request, caller)
    factor = _factor(request)

    def tables() -> str:
        with uow_factory(read_only=True) as uow:
            repository = reports_of(uow)
            view = ReportView(scope, repository.usage_facts(scope), uow.catalogue.snapshot())
            accounts = view.labelled_accounts(repository, Rank.COST, DEFAULT_ACCOUNTS)
            anomalies = view.anomalies(repository, DEFAULT_ANOMALIES, factor)
        totals = reports.cost_totals(view.facts.totals(), view.credit_price_usd)
        projection = view.projection()
        rows: list[dict[str, Any]] = [{
            "table": "totals", **_cost_measures(totals.measures), "revenueUsd": _decimal(totals.revenue_usd),
            "marginUsd": _decimal(totals.margin_usd), "efficiencyScore": totals.efficiency_score,
        }]
        rows += _ranked("byModel", view.by_model(Rank.COST, DEFAULT_MODELS), cost=True)
        rows += _ranked("byOperation", view.by_operation(Rank.COST, DEFAULT_OPERATIONS), cost=True)
        rows += _ranked("byAccount", accounts, cost=True)
        rows += [{"table": "daily", **_point(point, daily=True)} for point in view.daily()]
        rows += [{"table": "hourly", **_point(point, daily=False)} for point in view.hourly()]
        rows.append({
            "table": "projection", "method": projection.method.value,
            "runRateDailyUsd": _decimal(projection.run_rate_daily_usd),
            "trendDailyUsd": _decimal(projection.trend_daily_usd),
            "projected30DaysUsd": _decimal(projection.projected_30_days_usd),
        })
        rows += [{
            "table": "anomalies", "key": anomaly.usage.idempotency_key, "label": anomaly.usage.model_name,
            "usageId": anomaly.usage.id, "occurredAt": _utc(anomaly.usage.occurred_at),
            "costUsd": _decimal(anomaly.usage.cost_usd_total), "averageCostUsd": _decimal(anomaly.average_cost_usd),
            "factor": anomaly.factor,
        } for anomaly in anomalies]
        rows += [{
            "table": "modelComparison", "key": row.model, "provider": row.provider, **_cost_measures(row.measures),
            "marginUsd": _decimal(row.margin_usd),
        } for row in view.model_comparison()]
        return _csv(COST_ANALYSIS_COLUMNS, rows)

    return Response(await anyio.to_thread.run_sync(tables), media_type=CSV, headers=_attachment("cost-analysis.csv"))


def _ranked(table: str, rows: list[reports.Breakdown], *, cost: bool = False) -> list[dict[str, Any]]:
    measures = _cost_measures if cost else _usage_measures
    return [{"table": table, "key": row.key, "label": row.label, **measures(row.measures), "share": row.share}
            for row in rows]


def _usage_measures(m: reports.Measures) -> dict[str, Any]:
    return {
        "calls": m.calls, "successfulCalls": m.successful_calls, "successRate": m.success_rate,
        "tokensInput": m.tokens_input, "tokensOutput": m.tokens_output, "tokensTotal": m.tokens_total,
        "creditsUsed": _decimal(m.credits_used), "costUsd": _decimal(m.cost_usd),
        "costPer1kTokens": _decimal(m.cost_per_1k_tokens), "avgTokensPerCall": m.avg_tokens_per_call,
        "outputPerInputToken": m.output_per_input_token,
    }


def _cost_measures(m: reports.Measures) -> dict[str, Any]:
    return {
        "calls": m.calls, "successRate": m.success_rate, "tokensInput": m.tokens_input,
        "tokensOutput": m.tokens_output, "tokensTotal": m.tokens_total, "avgTokensPerCall": m.avg_tokens_per_call,
        "creditsUsed": _decimal(m.credits_used), "costUsd": _decimal(m.cost_usd),
        "costUsdInput": _decimal(m.cost_usd_input), "costUsdOutput": _decimal(m.cost_usd_output),
        "avgCostPerCall": _decimal(m.avg_cost_per_call), "costPer1kTokens": _decimal(m.cost_per_1k_tokens),
    }


def _point(point: reports.SeriesPoint, *, daily: bool) -> dict[str, Any]:
    m = point.measures
    return {
        "key": point.bucket.date().isoformat() if daily else f"{point.bucket.hour:02d}",
        "bucket": _utc(point.bucket) if daily else "", "calls": m.calls, "tokensInput": m.tokens_input,
        "tokensOutput": m.tokens_output, "tokensTotal": m.tokens_total, "creditsUsed": _decimal(m.credits_used),
        "costUsd": _decimal(m.cost_usd),
    }


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


# ---------------------------------------------------------------- parameters and formats


def _time(request: Request, name: str) -> datetime:
    value = request.query_params.get(name)
    if not value:
        raise InvalidInput(f"{name} is required: an ISO 8601 timestamp with an offset", field=name)
    if "T" in value:  # a "+" left unescaped in a query string arrives as a space
        value = value.replace(" ", "+")
    try:
        return parse_datetime(value)
    except ValueError as error:
        raise InvalidInput(str(error), field=name) from None


def _factor(request: Request) -> float:
    value = request.query_params.get("factor")
    if value is None:
        return DEFAULT_FACTOR
    try:
        factor = float(value)
    except ValueError:
        raise InvalidInput("factor must be a positive number", field="factor") from None
    reports.check_factor(factor)
    return factor


_decimal = serialize_decimal


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
