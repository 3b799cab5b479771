"""The two reports and the CSV exports, checked against sums computed here from the raw usage
(random calls with a fixed seed, a price change, DST days, odd zones, account filters)."""

from __future__ import annotations

import csv
import io
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest
from starlette.requests import ClientDisconnect

import api.exports as api_exports
import persistence.reports
from domain.model import Role
from tests.conftest import Api

USD = Decimal("1E-10")
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-haiku-4-5", "claude-sonnet-4-5", "gemini-2.5-flash", "gemini-2.0-flash")
TEXT_OPERATIONS = ("clustering", "ideas", "content", "optimizer", "linker")
# March 2026: New York springs forward on the 8th, so the range holds a 23-hour local day.
FIRST = datetime(2026, 3, 1, tzinfo=UTC)
LAST = datetime(2026, 3, 16, tzinfo=UTC)
REPRICED = datetime(2026, 3, 6, 12, tzinfo=UTC)

RECORD_BATCH = """mutation($i: [RecordUsageInput!]!) { recordUsageBatch(inputs: $i) { __typename
  ... on UsageRecorded { usage { id accountId operationType modelName tokensInput tokensOutput creditsUsed
  costUsdInput costUsdOutput costUsdTotal success occurredAt model { id name provider } } }
  ... on Error { code message } } }"""
TOKEN_USAGE = """query($f: ReportFilter!) { tokenUsageReport(filter: $f) {
  totals { calls successfulCalls successRate tokensInput tokensOutput tokensTotal creditsUsed costUsd
           costPer1kTokens avgTokensPerCall outputPerInputToken }
  byModel(limit: 100) { ...row } byOperation(limit: 100) { ...row } byAccount(limit: 100) { ...row }
  daily { ...point } hourly { ...point } heatmap { weekday hour calls tokensTotal costUsd } } }
fragment row on UsageBreakdown { key label calls successRate tokensInput tokensOutput tokensTotal creditsUsed
  costUsd costPer1kTokens share }
fragment point on UsagePoint { bucket calls tokensInput tokensOutput tokensTotal creditsUsed costUsd }"""
COST_ANALYSIS = """query($f: ReportFilter!, $factor: Float) { aiCostAnalysis(filter: $f) {
  totals { calls costUsd costUsdInput costUsdOutput avgCostPerCall creditsUsed revenueUsd marginUsd efficiencyScore }
  byModel { key costUsd share } byOperation(limit: 3) { key costUsd } byAccount { key label costUsd }
  daily { bucket costUsd } hourly { bucket costUsd }
  projection { method runRateDailyUsd trendDailyUsd projected30DaysUsd }
  anomalies(limit: 100, factor: $factor) { averageCostUsd factor usage { id costUsdTotal model { id } } }
  modelComparison { model provider calls successRate tokensInput tokensOutput avgTokensPerCall costUsd
    costPer1kTokens avgCostPerCall creditsUsed marginUsd } } }"""


@dataclass(frozen=True)
class Call:
    id: str
    account: str
    operation: str
    model: str
    version: str
    provider: str
    tokens_input: int
    tokens_output: int
    credits: Decimal
    cost_input: Decimal
    cost_output: Decimal
    success: bool
    occurred_at: datetime

    @property
    def cost(self) -> Decimal:
        return self.cost_input + self.cost_output


@dataclass
class Usage:
    accounts: dict[str, str]  # id -> name
    calls: list[Call]

    def within(self, start: datetime, end: datetime, account: str | None = None) -> list[Call]:
        return [c for c in self.calls if start <= c.occurred_at < end and account in (None, c.account)]


def _account(api: Api, name: str) -> str:
    created = api('mutation($n: String!) { createAccount(input: {name: $n, initialCredits: "10000000"}) '
                  "{ ... on AccountPayload { account { id } } } }", {"n": name})
    return str(created["createAccount"]["account"]["id"])


def _record(api: Api, inputs: list[dict[str, Any]]) -> list[Call]:
    results = api(RECORD_BATCH, {"i": inputs})["recordUsageBatch"]
    assert [r["__typename"] for r in results] == ["UsageRecorded"] * len(inputs), results
    return [_call(r["usage"]) for r in results]


def _call(u: dict[str, Any]) -> Call:
    return Call(u["id"], u["accountId"], u["operationType"], u["modelName"], u["model"]["id"],
                u["model"]["provider"], u["tokensInput"], u["tokensOutput"], Decimal(u["creditsUsed"]),
                Decimal(u["costUsdInput"]), Decimal(u["costUsdOutput"]), u["success"],
                datetime.fromisoformat(u["occurredAt"]))


@pytest.fixture
def usage(api: Api) -> Usage:
    """About 300 random calls over two weeks of March 2026, three accounts, a mid-range price change."""
    rng = random.Random(20260308)
    accounts = {_account(api, name): name for name in ("Acme, Inc.", "Globex", "Initech")}
    ids = list(accounts)
    api("""mutation { upsertModel(input: {name: "gpt-4o-mini", provider: "openai", modelType: TEXT,
        tokensPerCredit: 200, inputPricePerMillion: "0.2", outputPricePerMillion: "0.8",
        effectiveFrom: "2026-03-06T12:00:00Z"}) { __typename } }""")
    inputs = []
    span = int((LAST - FIRST).total_seconds())
    for n in range(300):
        at = FIRST + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000))
        account = ids[min(rng.randrange(5), 2)]  # skewed: the third account is the busiest
        if rng.random() < 0.1:
            fields: dict[str, Any] = {"operationType": "image", "images": rng.randint(1, 4),
                                      "modelName": rng.choice(["runware:100@1", "dall-e-3"])}
        else:
            tokens_input = int(rng.lognormvariate(7, 1.2))
            fields = {"operationType": rng.choice(TEXT_OPERATIONS), "modelName": rng.choice(MODELS),
                      "tokensInput": tokens_input, "tokensOutput": int(rng.lognormvariate(5.5, 1)),
                      "tokensCachedInput": tokens_input // 3 if rng.random() < 0.3 else 0}
        inputs.append({"idempotencyKey": f"r{n}", "accountId": account, "success": rng.random() > 0.08,
                       "occurredAt": at.isoformat(), **fields})
    calls = _record(api, inputs)
    # Calls on and just inside the edges the RANGES below cut at: UTC midnight, whole hours, quarter
    # hours, and the slivers of arbitrary ranges that no rollup bucket covers.
    edges = [datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 3, 5, 7, tzinfo=UTC),
             datetime(2026, 3, 2, 18, 30, tzinfo=UTC), datetime(2026, 3, 11, 18, 29, 59, 999999, tzinfo=UTC),
             datetime(2026, 3, 3, 7, 14, tzinfo=UTC), datetime(2026, 3, 9, 18, 44, 1, 900000, tzinfo=UTC),
             datetime(2026, 3, 9, 18, 35, tzinfo=UTC), datetime(2026, 3, 5, 6, 59, 59, 500000, tzinfo=UTC),
             datetime(2026, 3, 5, 21, 0, 0, 500000, tzinfo=UTC), datetime(2026, 3, 5, 6, 55, tzinfo=UTC),
             datetime(2026, 3, 5, 7, 17, tzinfo=UTC), datetime(2026, 3, 3, 6, 50, tzinfo=UTC),
             # New York falls back on 2026-11-01: 01:30 happens twice, an hour apart.
             datetime(2026, 10, 31, 12, tzinfo=UTC), datetime(2026, 11, 1, 4, 59, tzinfo=UTC),
             datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
             datetime(2026, 11, 1, 7, tzinfo=UTC), datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC)]
    calls += _record(api, [{"idempotencyKey": f"edge{n}", "accountId": ids[n % 3], "operationType": "linker",
                            "tokensInput": 1000 + n, "tokensOutput": 10, "occurredAt": at.isoformat()}
                           for n, at in enumerate(edges)])
    return Usage(accounts, calls)


# ---------------------------------------------------------------- what the raw calls add up to


def _sums(calls: Iterable[Call]) -> dict[str, Any]:
    calls = list(calls)
    tokens_input = sum(c.tokens_input for c in calls)
    tokens_output = sum(c.tokens_output for c in calls)
    return {"calls": len(calls), "successful": sum(c.success for c in calls), "tokens_input": tokens_input,
            "tokens_output": tokens_output, "credits": sum((c.credits for c in calls), Decimal(0)),
            "cost_input": sum((c.cost_input for c in calls), Decimal(0)),
            "cost_output": sum((c.cost_output for c in calls), Decimal(0))}


def _quotient(numerator: Decimal, denominator: int | Decimal) -> Decimal:
    return (numerator / denominator).quantize(USD, ROUND_HALF_EVEN) if denominator else Decimal(0)


def _grouped(calls: Iterable[Call], key: Callable[[Call], Any]) -> dict[Any, list[Call]]:
    groups: dict[Any, list[Call]] = defaultdict(list)
    for call in calls:
        groups[key(call)].append(call)
    return groups


def _local_dates(start: datetime, end: datetime, zone: ZoneInfo) -> list[date]:
    first, last = start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _check_row(row: dict[str, Any], calls: list[Call]) -> None:
    s = _sums(calls)
    cost = s["cost_input"] + s["cost_output"]
    tokens = s["tokens_input"] + s["tokens_output"]
    assert row["calls"] == s["calls"]
    assert row["successRate"] == pytest.approx(s["successful"] / s["calls"])
    assert (row["tokensInput"], row["tokensOutput"], row["tokensTotal"]) == (s["tokens_input"], s["tokens_output"],
                                                                              tokens)
    assert (Decimal(row["creditsUsed"]), Decimal(row["costUsd"])) == (s["credits"], cost)
    assert Decimal(row["costPer1kTokens"]) == _quotient(cost * 1000, tokens)


def _check_token_usage(report: dict[str, Any], usage: Usage, start: datetime, end: datetime,
                       account: str | None, zone: ZoneInfo) -> None:
    calls = usage.within(start, end, account)
    s = _sums(calls)
    cost = s["cost_input"] + s["cost_output"]
    tokens = s["tokens_input"] + s["tokens_output"]
    totals = report["totals"]
    assert (totals["calls"], totals["successfulCalls"]) == (s["calls"], s["successful"])
    assert (totals["tokensInput"], totals["tokensOutput"], totals["tokensTotal"]) == (
        s["tokens_input"], s["tokens_output"], tokens)
    assert (Decimal(totals["creditsUsed"]), Decimal(totals["costUsd"])) == (s["credits"], cost)
    assert Decimal(totals["costPer1kTokens"]) == _quotient(cost * 1000, tokens)
    assert totals["successRate"] == pytest.approx(s["successful"] / s["calls"] if calls else 0)
    assert totals["avgTokensPerCall"] == pytest.approx(tokens / s["calls"] if calls else 0)
    assert totals["outputPerInputToken"] == pytest.approx(s["tokens_output"] / s["tokens_input"] if calls else 0)

    for field, key in (("byModel", lambda c: c.model), ("byOperation", lambda c: c.operation),
                       ("byAccount", lambda c: c.account)):
        groups = _grouped(calls, key)
        rows = report[field]
        assert {row["key"] for row in rows} == set(groups)
        assert [row["tokensTotal"] for row in rows] == sorted((row["tokensTotal"] for row in rows), reverse=True)
        for row in rows:
            _check_row(row, groups[row["key"]])
            assert row["share"] == pytest.approx(row["tokensTotal"] / tokens)
    assert {row["key"]: row["label"] for row in report["byAccount"]} == {
        a: usage.accounts[a] for a in _grouped(calls, lambda c: c.account)}

    by_date = _grouped(calls, lambda c: c.occurred_at.astimezone(zone).date())
    dates = _local_dates(start, end, zone)
    assert [datetime.fromisoformat(p["bucket"]) for p in report["daily"]] == [
        datetime(d.year, d.month, d.day, tzinfo=zone) for d in dates]
    for point, day in zip(report["daily"], dates, strict=True):
        assert datetime.fromisoformat(point["bucket"]).utcoffset() == datetime(
            day.year, day.month, day.day, tzinfo=zone).utcoffset()
        _check_point(point, by_date.get(day, []))

    by_hour = _grouped(calls, lambda c: c.occurred_at.astimezone(zone).hour)
    assert [p["bucket"] for p in report["hourly"]] == [
        datetime(1970, 1, 1, h, tzinfo=zone).isoformat() for h in range(24)]
    for hour, point in enumerate(report["hourly"]):
        _check_point(point, by_hour.get(hour, []))

    cells = _grouped(calls, lambda c: (c.occurred_at.astimezone(zone).weekday(), c.occurred_at.astimezone(zone).hour))
    assert [(c["weekday"], c["hour"]) for c in report["heatmap"]] == [(w, h) for w in range(7) for h in range(24)]
    for cell in report["heatmap"]:
        expected = _sums(cells.get((cell["weekday"], cell["hour"]), []))
        assert (cell["calls"], cell["tokensTotal"], Decimal(cell["costUsd"])) == (
            expected["calls"], expected["tokens_input"] + expected["tokens_output"],
            expected["cost_input"] + expected["cost_output"])


def _check_point(point: dict[str, Any], calls: list[Call]) -> None:
    s = _sums(calls)
    assert (point["calls"], point["tokensInput"], point["tokensOutput"], point["tokensTotal"]) == (
        s["calls"], s["tokens_input"], s["tokens_output"], s["tokens_input"] + s["tokens_output"])
    assert (Decimal(point["creditsUsed"]), Decimal(point["costUsd"])) == (
        s["credits"], s["cost_input"] + s["cost_output"])


def _filter(start: datetime, end: datetime, zone: str, account: str | None = None) -> dict[str, Any]:
    return {"from": start.isoformat(), "to": end.isoformat(), "timezone": zone, "accountId": account}


RANGES = [
    # (zone, from, to): local midnights across the spring-forward day; half-hour and 45-minute offsets;
    # an arbitrary range with fractions of a second; less than a day; less than an hour.
    ("America/New_York", datetime(2026, 3, 2, tzinfo=ZoneInfo("America/New_York")),
     datetime(2026, 3, 15, tzinfo=ZoneInfo("America/New_York"))),
    ("Asia/Kolkata", datetime(2026, 3, 1, tzinfo=ZoneInfo("Asia/Kolkata")),
     datetime(2026, 3, 12, tzinfo=ZoneInfo("Asia/Kolkata"))),
    ("Asia/Kathmandu", datetime(2026, 3, 3, 6, 45, tzinfo=UTC), datetime(2026, 3, 14, 19, 15, tzinfo=UTC)),
    ("UTC", datetime(2026, 3, 3, 7, 13, 27, 500000, tzinfo=UTC), datetime(2026, 3, 9, 18, 44, 2, tzinfo=UTC)),
    ("Europe/Paris", datetime(2026, 3, 5, 6, 59, 59, tzinfo=UTC), datetime(2026, 3, 5, 21, 0, 1, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 3, 5, 6, 50, tzinfo=UTC), datetime(2026, 3, 5, 7, 20, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 10, 31, tzinfo=ZoneInfo("America/New_York")),
     datetime(2026, 11, 3, tzinfo=ZoneInfo("America/New_York"))),
]


@pytest.mark.parametrize(("zone", "start", "end"), RANGES, ids=[f"{r[0]}-{r[1]:%m-%d}" for r in RANGES])
def test_token_usage_adds_up_to_the_raw_calls_in_any_zone(api: Api, usage: Usage, zone: str, start: datetime,
                                                          end: datetime) -> None:
    report = api(TOKEN_USAGE, {"f": _filter(start, end, zone)})["tokenUsageReport"]
    _check_token_usage(report, usage, start, end, None, ZoneInfo(zone))
    assert report["totals"]["calls"] > 0


def test_an_account_filter_keeps_to_that_account(api: Api, usage: Usage) -> None:
    zone = ZoneInfo("America/New_York")
    start, end = datetime(2026, 3, 1, tzinfo=zone), datetime(2026, 3, 16, tzinfo=zone)
    for account in usage.accounts:
        report = api(TOKEN_USAGE, {"f": _filter(start, end, "America/New_York", account)})["tokenUsageReport"]
        _check_token_usage(report, usage, start, end, account, zone)
        assert [row["key"] for row in report["byAccount"]] == [account]


def test_cost_analysis_adds_up_to_the_raw_calls(api: Api, usage: Usage) -> None:
    zone = ZoneInfo("Asia/Kolkata")
    start, end = datetime(2026, 3, 1, tzinfo=zone), datetime(2026, 3, 16, tzinfo=zone)
    report = api(COST_ANALYSIS, {"f": _filter(start, end, "Asia/Kolkata"), "factor": 2.5})["aiCostAnalysis"]
    calls = usage.within(start, end)
    s = _sums(calls)
    cost = s["cost_input"] + s["cost_output"]
    revenue = s["credits"] * Decimal("0.01")
    assert report["totals"] == {
        "calls": len(calls), "costUsd": _text(cost),
        "costUsdInput": _text(s["cost_input"]), "costUsdOutput": _text(s["cost_output"]),
        "avgCostPerCall": _text(_quotient(cost, len(calls))), "creditsUsed": _text(s["credits"]),
        "revenueUsd": _text(revenue), "marginUsd": _text(revenue - cost),
        "efficiencyScore": pytest.approx(float(revenue / cost)),
    }
    by_model = _grouped(calls, lambda c: c.model)
    assert [row["key"] for row in report["byModel"]] == sorted(
        by_model, key=lambda m: (-_sums(by_model[m])["cost_input"] - _sums(by_model[m])["cost_output"],
                                 -len(by_model[m]), m))[:10]
    for row in report["byModel"]:
        assert row["share"] == pytest.approx(float(Decimal(row["costUsd"]) / cost))
    assert len(report["byOperation"]) == 3
    assert {row["key"]: row["label"] for row in report["byAccount"]} == {
        a: usage.accounts[a] for a in _grouped(calls, lambda c: c.account)}

    for row in report["modelComparison"]:
        model_calls = by_model[row["model"]]
        m = _sums(model_calls)
        model_cost = m["cost_input"] + m["cost_output"]
        assert row["provider"] == model_calls[0].provider
        assert (row["calls"], row["tokensInput"], row["tokensOutput"]) == (m["calls"], m["tokens_input"],
                                                                           m["tokens_output"])
        assert Decimal(row["costUsd"]) == model_cost and Decimal(row["creditsUsed"]) == m["credits"]
        assert Decimal(row["avgCostPerCall"]) == _quotient(model_cost, m["calls"])
        assert Decimal(row["marginUsd"]) == m["credits"] * Decimal("0.01") - model_cost
    assert {row["model"] for row in report["modelComparison"]} == set(by_model)

    daily = [Decimal(p["costUsd"]) for p in report["daily"]]
    assert sum(daily) == cost and len(daily) == 15
    projection = report["projection"]
    assert projection["method"] == "trend"
    assert Decimal(projection["runRateDailyUsd"]) == _quotient(cost, 15)
    trend = _trend(daily)
    assert Decimal(projection["trendDailyUsd"]) == trend.quantize(USD, ROUND_HALF_EVEN)
    assert Decimal(projection["projected30DaysUsd"]) == (trend * 30).quantize(USD, ROUND_HALF_EVEN)

    # Anomalies: calls costing more than 2.5 x their model version's average in the range.
    by_version = _grouped(calls, lambda c: c.version)
    expected = []
    for call in calls:
        peers = _sums(by_version[call.version])
        average = (peers["cost_input"] + peers["cost_output"]) / peers["calls"]
        if call.cost > Decimal("2.5") * average:
            expected.append(call)
    expected.sort(key=lambda c: (c.cost, c.occurred_at), reverse=True)
    assert [a["usage"]["id"] for a in report["anomalies"]] == [c.id for c in expected]
    assert expected, "the random data is meant to hold a few anomalies"
    for anomaly in report["anomalies"]:
        peers = _sums(by_version[anomaly["usage"]["model"]["id"]])
        average = peers["cost_input"] + peers["cost_output"]
        assert Decimal(anomaly["averageCostUsd"]) == _quotient(average, peers["calls"])
        assert anomaly["factor"] == pytest.approx(float(Decimal(anomaly["usage"]["costUsdTotal"]) * peers["calls"]
                                                        / average))


def _trend(daily: list[Decimal]) -> Decimal:
    n = len(daily)
    mean_x, mean_y = Decimal(n - 1) / 2, sum(daily) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(daily)) / sum((x - mean_x) ** 2 for x in range(n))
    return sum(max(Decimal(0), mean_y + slope * (x - mean_x)) for x in range(n, n + 30)) / 30


def _text(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def test_a_price_change_keeps_one_model_in_rankings_but_two_versions_for_anomalies(api: Api, usage: Usage) -> None:
    versions = {c.version for c in usage.calls if c.model == "gpt-4o-mini"}
    assert len(versions) == 2
    report = api(TOKEN_USAGE, {"f": _filter(FIRST, LAST, "UTC")})["tokenUsageReport"]
    assert [row["key"] for row in report["byModel"]].count("gpt-4o-mini") == 1
    assert {row["label"] for row in report["byModel"]} >= {"GPT-4o mini"}


def test_an_empty_range_is_all_zeros(api: Api, usage: Usage) -> None:
    f = _filter(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 8, tzinfo=UTC), "UTC")
    tokens = api(TOKEN_USAGE, {"f": f})["tokenUsageReport"]
    assert tokens["totals"] == {"calls": 0, "successfulCalls": 0, "successRate": 0.0, "tokensInput": 0,
                                "tokensOutput": 0, "tokensTotal": 0, "creditsUsed": "0", "costUsd": "0",
                                "costPer1kTokens": "0", "avgTokensPerCall": 0.0, "outputPerInputToken": 0.0}
    assert tokens["byModel"] == tokens["byOperation"] == tokens["byAccount"] == []
    assert len(tokens["daily"]) == 7 and {p["calls"] for p in tokens["daily"] + tokens["hourly"]} == {0}
    assert len(tokens["heatmap"]) == 168
    cost = api(COST_ANALYSIS, {"f": f})["aiCostAnalysis"]
    assert cost["totals"]["efficiencyScore"] == 0.0 and cost["totals"]["avgCostPerCall"] == "0"
    assert cost["projection"] == {"method": "trend", "runRateDailyUsd": "0", "trendDailyUsd": "0",
                                  "projected30DaysUsd": "0"}
    assert cost["anomalies"] == cost["modelComparison"] == []


def test_an_account_key_sees_its_own_account_only(api: Api, usage: Usage) -> None:
    mine, other, _ = usage.accounts
    secret = api.key(Role.ACCOUNT, mine)
    own = api(TOKEN_USAGE, {"f": _filter(FIRST, LAST, "UTC")}, secret=secret)["tokenUsageReport"]
    assert own["totals"]["calls"] == len(usage.within(FIRST, LAST, mine))
    assert [row["key"] for row in own["byAccount"]] == [mine]
    for query in (TOKEN_USAGE, COST_ANALYSIS):
        body = api.post(query, {"f": _filter(FIRST, LAST, "UTC", other)}, secret=secret).json()
        assert body["data"] is None and body["errors"][0]["message"] == "this key may not read these reports"
    service = api.key(Role.SERVICE)
    body = api.post(TOKEN_USAGE, {"f": _filter(FIRST, LAST, "UTC")}, secret=service).json()
    assert body["data"] is None and "may not" in body["errors"][0]["message"]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"to": "2026-03-01T00:00:00Z"}, "from must be before to"),
    ({"to": "2027-04-10T00:00:00Z"}, "at most 366 days"),
    ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
    ({"timezone": "../../etc/passwd"}, "unknown time zone"),
    ({"from": "2026-03-01T00:00:00"}, "offset"),
])
def test_a_bad_filter_is_a_clear_error(api: Api, overrides: dict[str, str], message: str) -> None:
    f = {**_filter(FIRST, LAST, "UTC"), **overrides}
    body = api.post(TOKEN_USAGE, {"f": f}).json()
    assert body.get("data") is None and message in body["errors"][0]["message"]


@pytest.mark.parametrize("factor", [0, -1, -0.5])
def test_a_factor_that_is_not_positive_is_refused(api: Api, factor: float) -> None:
    body = api.post(COST_ANALYSIS, {"f": _filter(FIRST, LAST, "UTC"), "factor": factor}).json()
    assert body["data"] is None and "factor must be a positive number" in json.dumps(body["errors"])


def test_limits_are_clamped_to_0_through_100(api: Api, usage: Usage) -> None:
    query = """query($f: ReportFilter!) { tokenUsageReport(filter: $f) { none: byModel(limit: -5) { key }
        all: byModel(limit: 1000) { key } } }"""
    report = api(query, {"f": _filter(FIRST, LAST, "UTC")})["tokenUsageReport"]
    assert report["none"] == [] and len(report["all"]) == len({c.model for c in usage.calls})


# ---------------------------------------------------------------- CSV


def _get(api: Api, path: str, secret: str | None, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return api.client.get(path, params=params, headers=headers)


def test_the_usage_csv_holds_every_call_exactly(api: Api, usage: Usage) -> None:
    account = next(iter(usage.accounts))
    awkward = _record(api, [{"idempotencyKey": 'key, with "quotes"', "accountId": account, "operationType": "linker",
                             "tokensInput": 10, "tokensOutput": 1, "occurredAt": "2026-03-04T05:06:07.000008Z",
                             "metadata": {"note": "line one,\nline \"two\""}}])[0]
    start, end = datetime(2026, 3, 2, 12, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)
    response = _get(api, "/exports/usage.csv", api.secret, **{"from": start.isoformat(), "to": end.isoformat()})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = {c.id: c for c in usage.within(start, end) + [awkward]}
    assert [r["id"] for r in rows] == [c.id for c in sorted(expected.values(), key=lambda c: (c.occurred_at,
                                                                                              int(c.id)))]
    for row in rows:
        call = expected[row["id"]]
        assert row["occurredAt"] == call.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert (Decimal(row["creditsUsed"]), Decimal(row["costUsdInput"]), Decimal(row["costUsdOutput"]),
                Decimal(row["costUsdTotal"])) == (call.credits, call.cost_input, call.cost_output, call.cost)
        assert (row["creditsUsed"], row["costUsdTotal"]) == (f"{call.credits:.4f}", f"{call.cost:.10f}")  # stored scale
        assert (row["accountId"], row["modelName"], row["success"]) == (call.account, call.model,
                                                                         "true" if call.success else "false")
    tricky = next(r for r in rows if r["id"] == awkward.id)
    assert tricky["idempotencyKey"] == 'key, with "quotes"'
    assert json.loads(tricky["metadata"]) == {"note": "line one,\nline \"two\""}
    assert next(iter(csv.reader(io.StringIO(response.text)))) == list(rows[0])


def _tiny_csv_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of a few rows (from ten minutes wide), some denser than their sizing, chunks of a few lines."""
    monkeypatch.setattr(persistence.reports, "CSV_SLICE_ROWS", 2)
    monkeypatch.setattr(persistence.reports, "CSV_SLICE_ROWS_MAX", 3)
    monkeypatch.setattr(persistence.reports, "CSV_FETCH_ROWS", 2)
    monkeypatch.setattr(persistence.reports, "CSV_CHUNK_BYTES", 200)
    monkeypatch.setattr(persistence.reports, "CSV_FIRST_SLICE", 600 * 10**6)
    monkeypatch.setattr(api_exports, "PUMP_DEPTH", 1)


def test_the_usage_csv_is_the_same_in_any_slices_and_chunks(api: Api, usage: Usage,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    window = {"from": FIRST.isoformat(), "to": LAST.isoformat()}
    whole = _get(api, "/exports/usage.csv", api.secret, **window).text
    mine = next(iter(usage.accounts))
    own = _get(api, "/exports/usage.csv", api.secret, **window, accountId=mine).text
    _tiny_csv_parts(monkeypatch)
    assert _get(api, "/exports/usage.csv", api.secret, **window).text == whole
    assert _get(api, "/exports/usage.csv", api.secret, **window, accountId=mine).text == own
    assert len(whole.splitlines()) == len(usage.within(FIRST, LAST)) + 1


@pytest.mark.parametrize("asgi", ["2.3", "2.4"])  # the client's leaving: a disconnect message, or send() failing
def test_a_client_leaving_mid_csv_stops_the_export(api: Api, usage: Usage, monkeypatch: pytest.MonkeyPatch,
                                                   asgi: str) -> None:
    _tiny_csv_parts(monkeypatch)
    query = f"from={FIRST.isoformat()}&to={LAST.isoformat()}".replace("+", "%2B").encode()
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": asgi}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/exports/usage.csv", "raw_path": b"/exports/usage.csv",
             "query_string": query, "root_path": "", "server": ("test", 80), "client": ("test", 1),
             "headers": [(b"host", b"test"), (b"authorization", f"Bearer {api.secret}".encode())]}
    sent: list[bytes] = []

    async def leave_after_one_chunk() -> None:
        left, requested = anyio.Event(), False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await left.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                if left.is_set() and asgi == "2.4":
                    raise OSError("the client left")
                sent.append(message["body"])
                left.set()
                await anyio.sleep(0.05)

        try:
            await api.client.app(scope, receive, send)
        except ClientDisconnect:
            assert asgi == "2.4"

    anyio.run(leave_after_one_chunk)
    assert 1 <= len(sent) <= 2 and sent[0].startswith(b"id,occurredAt,")
    deadline = time.monotonic() + 10
    while any(t.name.startswith("usage-csv") for t in threading.enumerate()) or api.factory.engine.pool.checkedout():
        assert time.monotonic() < deadline, "the export's threads or connections outlived the client"
        time.sleep(0.01)


def test_csv_exports_take_the_same_keys_and_rules(api: Api, usage: Usage) -> None:
    mine, other, _ = usage.accounts
    window = {"from": FIRST.isoformat(), "to": LAST.isoformat()}
    for path in ("/exports/usage.csv", "/exports/token-usage.csv", "/exports/cost-analysis.csv"):
        assert _get(api, path, None, **window).status_code == 401
        assert _get(api, path, "cm_not-a-key", **window).status_code == 401
        secret = api.key(Role.ACCOUNT, mine)
        assert _get(api, path, secret, **window, accountId=other).status_code == 403
        assert _get(api, path, api.key(Role.SERVICE), **window).status_code == 403
        assert _get(api, path, api.secret, **{"from": LAST.isoformat(), "to": FIRST.isoformat()}).status_code == 400
    own = list(csv.DictReader(io.StringIO(_get(api, "/exports/usage.csv", secret, **window).text)))
    assert {r["accountId"] for r in own} == {mine} and len(own) == len(usage.within(FIRST, LAST, mine))


def test_the_report_csvs_hold_each_table_of_the_reports(api: Api, usage: Usage) -> None:
    window = {"from": FIRST.isoformat(), "to": LAST.isoformat(), "timezone": "America/New_York"}
    graph = api(TOKEN_USAGE, {"f": _filter(FIRST, LAST, "America/New_York")})["tokenUsageReport"]
    rows = list(csv.DictReader(io.StringIO(_get(api, "/exports/token-usage.csv", api.secret, **window).text)))
    tables = _grouped(rows, lambda r: r["table"])  # type: ignore[arg-type, return-value]
    assert list(tables) == ["totals", "byModel", "byOperation", "byAccount", "daily", "hourly", "heatmap"]
    totals = tables["totals"][0]
    assert (int(totals["calls"]), totals["costUsd"], totals["creditsUsed"]) == (
        graph["totals"]["calls"], graph["totals"]["costUsd"], graph["totals"]["creditsUsed"])
    assert [r["key"] for r in tables["byModel"]] == [r["key"] for r in graph["byModel"][:10]]
    assert [r["costUsd"] for r in tables["daily"]] == [p["costUsd"] for p in graph["daily"]]
    assert tables["daily"][0]["bucket"] == "2026-02-28T05:00:00.000000Z"  # New York's midnight, in UTC
    assert len(tables["heatmap"]) == 168

    cost = api(COST_ANALYSIS, {"f": _filter(FIRST, LAST, "America/New_York")})["aiCostAnalysis"]
    rows = list(csv.DictReader(io.StringIO(_get(api, "/exports/cost-analysis.csv", api.secret, **window).text)))
    tables = _grouped(rows, lambda r: r["table"])  # type: ignore[arg-type, return-value]
    assert list(tables) == ["totals", "byModel", "byOperation", "byAccount", "daily", "hourly", "projection",
                            "anomalies", "modelComparison"]
    assert tables["totals"][0]["marginUsd"] == cost["totals"]["marginUsd"]
    assert tables["projection"][0]["projected30DaysUsd"] == cost["projection"]["projected30DaysUsd"]
    assert [r["usageId"] for r in tables["anomalies"]] == [a["usage"]["id"] for a in cost["anomalies"][:50]]
