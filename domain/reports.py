"""Report arithmetic: local days and hours, totals and ratios, rankings, projection, anomalies.

Pure functions over the aggregates a read model hands over (ports.ReportRepository). Money
stays Decimal: sums are exact, and a quotient of money (an average, a cost per 1K tokens,
a daily rate) is rounded once, half-even, to USD_PLACES. Ratios that are not money
(success rate, shares, the efficiency score) are floats, as the contract says. Every
quotient over an empty range is zero, never a division by zero.

Local time: a UTC instant belongs to the local hour its zone's offset puts it in. Every
IANA zone's offset since 2000 is a whole number of quarter hours, so 15-minute UTC buckets
fall wholly inside one local hour and the reports are exact in any zone, DST days included.
(A few zones changed offset at a minute past a quarter before 2023, e.g. St John's before
2011: usage in that one quarter hour is dated with the offset in force at its start.)
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo, available_timezones

from domain.catalogue import Catalogue
from domain.errors import InvalidInput
from domain.model import UsageRecord
from domain.money import USD_PLACES

MAX_RANGE = timedelta(days=366)
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_LIMIT = 100
PROJECTION_DAYS = 30
# Fewer daily points than this and a fitted line says more about noise than about trend.
TREND_MIN_DAYS = 7
QUARTER_HOUR = 900
HOUR = 3600
ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH_WEEKDAY = _EPOCH_DATE.weekday()  # a Thursday
_USD = Decimal(1).scaleb(-USD_PLACES)
_SCAN_STEP = 6 * HOUR  # no zone changes its offset twice within six hours
K = TypeVar("K")


# ---------------------------------------------------------------- measures


@dataclass(frozen=True, slots=True)
class Measures:
    """What a set of calls adds up to."""

    calls: int = 0
    successful_calls: int = 0
    tokens_input: int = 0
    tokens_output: int = 0
    credits_used: Decimal = ZERO
    cost_usd_input: Decimal = ZERO
    cost_usd_output: Decimal = ZERO

    def __add__(self, other: Measures) -> Measures:
        return Measures(
            self.calls + other.calls,
            self.successful_calls + other.successful_calls,
            self.tokens_input + other.tokens_input,
            self.tokens_output + other.tokens_output,
            self.credits_used + other.credits_used,
            self.cost_usd_input + other.cost_usd_input,
            self.cost_usd_output + other.cost_usd_output,
        )

    @property
    def tokens_total(self) -> int:
        return self.tokens_input + self.tokens_output

    @property
    def cost_usd(self) -> Decimal:
        return self.cost_usd_input + self.cost_usd_output

    @property
    def success_rate(self) -> float:
        return ratio(self.successful_calls, self.calls)

    @property
    def avg_tokens_per_call(self) -> float:
        return ratio(self.tokens_total, self.calls)

    @property
    def output_per_input_token(self) -> float:
        return ratio(self.tokens_output, self.tokens_input)

    @property
    def cost_per_1k_tokens(self) -> Decimal:
        return usd_quotient(self.cost_usd * 1000, self.tokens_total)

    @property
    def avg_cost_per_call(self) -> Decimal:
        return usd_quotient(self.cost_usd, self.calls)

    def margin_usd(self, credit_price_usd: Decimal) -> Decimal:
        return self.credits_used * credit_price_usd - self.cost_usd


def total(measures: Iterable[Measures]) -> Measures:
    calls = successful = tokens_input = tokens_output = 0
    credits = cost_input = cost_output = ZERO
    for m in measures:
        calls += m.calls
        successful += m.successful_calls
        tokens_input += m.tokens_input
        tokens_output += m.tokens_output
        credits += m.credits_used
        cost_input += m.cost_usd_input
        cost_output += m.cost_usd_output
    return Measures(calls, successful, tokens_input, tokens_output, credits, cost_input, cost_output)


def ratio(numerator: int | Decimal, denominator: int | Decimal) -> float:
    if not denominator:
        return 0.0
    if isinstance(numerator, int) and isinstance(denominator, int):
        return numerator / denominator
    return float(Decimal(numerator) / Decimal(denominator))


def usd_quotient(numerator: Decimal, denominator: int | Decimal) -> Decimal:
    """numerator / denominator, rounded half-even to USD_PLACES; zero when there is nothing to divide by."""
    if not denominator:
        return ZERO
    with localcontext() as context:
        context.prec = 60
        return round_usd(numerator / denominator)


def round_usd(value: Decimal) -> Decimal:
    return value.quantize(_USD, rounding=ROUND_HALF_EVEN)


def clamp_limit(limit: int | None, default: int) -> int:
    return max(0, min(MAX_LIMIT, default if limit is None else limit))


# ---------------------------------------------------------------- the scope: range, account, zone


@dataclass(frozen=True, slots=True)
class OffsetSpan:
    """From `start` (UTC seconds since 1970) on, local time is UTC + `offset` seconds."""

    start: int
    offset: int


@dataclass(frozen=True, slots=True)
class ReportScope:
    """The usage a report covers: occurredAt in [start, end), of one account or all."""

    start: datetime
    end: datetime
    account_id: str | None
    zone: tzinfo
    spans: tuple[OffsetSpan, ...]

    def local_hour(self, utc_seconds: int) -> int:
        """The local hour (counted from 1970-01-01 00:00 local) that a UTC instant falls in."""
        offset = self.spans[0].offset
        for span in self.spans[1:]:
            if utc_seconds < span.start:
                break
            offset = span.offset
        return (utc_seconds + offset) // HOUR

    def first_and_last_day(self) -> tuple[int, int]:
        """The local dates the range touches, as days since 1970-01-01."""
        first = self.local_hour(epoch_seconds(self.start)) // 24
        last = self.local_hour(_last_second(self.end)) // 24
        return first, last


def report_scope(start: datetime, end: datetime, account_id: str | None, zone_name: str | None) -> ReportScope:
    """Validate a report filter. Raises InvalidInput."""
    start, end = check_range(start, end)
    if end - start > MAX_RANGE:
        raise InvalidInput(f"a report covers at most {MAX_RANGE.days} days", field="to")
    zone = load_zone(zone_name)
    spans = offset_spans(zone, start, end)
    if any(span.offset % QUARTER_HOUR for span in spans):
        raise InvalidInput(
            f"{zone_name}'s offset in this range is not a whole number of quarter hours", field="timezone"
        )
    return ReportScope(start, end, account_id or None, zone, spans)


def check_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC, if it is a range at all. Raises InvalidInput."""
    for value, field in ((start, "from"), (end, "to")):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInput(f"{field} needs a UTC offset", field=field)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start >= end:
        raise InvalidInput("from must be before to", field="to")
    if start < EARLIEST or end > LATEST:
        raise InvalidInput(f"usage is dated {EARLIEST.year} to {LATEST.year - 1}", field="from")
    return start, end


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def load_zone(name: str | None) -> tzinfo:
    """An IANA zone by name ("UTC" when none is given). Raises InvalidInput."""
    name = name or "UTC"
    if name not in _zone_names() and name != "UTC":
        raise InvalidInput(f"unknown time zone {name[:64]!r}; use an IANA name such as Europe/Paris", field="timezone")
    return ZoneInfo(name)


def offset_spans(zone: tzinfo, start: datetime, end: datetime) -> tuple[OffsetSpan, ...]:
    """The zone's offsets over [start, end), each from the first quarter hour it holds at."""
    first = epoch_seconds(start) // QUARTER_HOUR * QUARTER_HOUR
    last = _last_second(end) // QUARTER_HOUR * QUARTER_HOUR  # the last quarter hour the range reaches into
    spans = [OffsetSpan(first, _offset(zone, first))]
    low = first
    while low < last:
        high = min(low + _SCAN_STEP, last)
        if _offset(zone, high) != spans[-1].offset:
            before, after = low, high
            while after - before > QUARTER_HOUR:
                middle = before + (after - before) // 2 // QUARTER_HOUR * QUARTER_HOUR
                if _offset(zone, middle) == spans[-1].offset:
                    before = middle
                else:
                    after = middle
            spans.append(OffsetSpan(after, _offset(zone, after)))
        low = high
    return tuple(spans)


def _offset(zone: tzinfo, utc_seconds: int) -> int:
    offset = (_EPOCH + timedelta(seconds=utc_seconds)).astimezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def _last_second(end: datetime) -> int:
    """The last whole UTC second that starts before an exclusive end."""
    return (epoch_micros(end) - 1) // 1_000_000


def epoch_micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def epoch_seconds(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(seconds=1)


def from_epoch(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


# ---------------------------------------------------------------- what the read model hands over


@dataclass(frozen=True, slots=True)
class UsageFacts:
    """A scope's usage, grouped three ways. Each grouping adds up to the same totals."""

    by_local_hour: Mapping[int, Measures]
    by_model_operation: Mapping[tuple[int, str], Measures]  # (model version id, operation type)
    by_account: Mapping[str, Measures]

    def totals(self) -> Measures:
        return total(self.by_model_operation.values())

    def by_model_version(self) -> dict[int, Measures]:
        return _regroup((version, m) for (version, _), m in self.by_model_operation.items())

    def by_operation(self) -> dict[str, Measures]:
        return _regroup((operation, m) for (_, operation), m in self.by_model_operation.items())

    def by_model_name(self, catalogue: Catalogue) -> dict[str, Measures]:
        """A model's price versions are one model in a ranking."""
        return _regroup((_model_name(catalogue, version), m) for version, m in self.by_model_version().items())


def _model_name(catalogue: Catalogue, version_id: int) -> str:
    version = catalogue.by_id(version_id)
    return version.name if version else f"model version {version_id}"


def _regroup(items: Iterable[tuple[K, Measures]]) -> dict[K, Measures]:
    grouped: dict[K, list[Measures]] = {}
    for key, measures in items:
        grouped.setdefault(key, []).append(measures)
    return {key: total(parts) for key, parts in grouped.items()}


# ---------------------------------------------------------------- series


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    bucket: datetime  # local time, with the zone's offset
    measures: Measures


@dataclass(frozen=True, slots=True)
class HeatCell:
    weekday: int  # 0 = Monday
    hour: int
    measures: Measures


def daily(facts: UsageFacts, scope: ReportScope) -> list[SeriesPoint]:
    """One point per local date the range touches, empty dates included."""
    by_day = _regroup((hour // 24, m) for hour, m in facts.by_local_hour.items())
    first, last = scope.first_and_last_day()
    first, last = min([first, *by_day]), max([last, *by_day])
    return [
        SeriesPoint(day_start(scope.zone, _EPOCH_DATE + timedelta(days=day)), by_day.get(day, Measures()))
        for day in range(first, last + 1)
    ]


def day_start(zone: tzinfo, day: date) -> datetime:
    """A date's first instant in the zone: its midnight, or the end of a DST gap that swallows it."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC).astimezone(zone)


def hour_of_day(facts: UsageFacts, scope: ReportScope) -> list[SeriesPoint]:
    """24 points, hour h labelled h:00 on 1970-01-01 in the zone."""
    by_hour = _regroup((hour % 24, m) for hour, m in facts.by_local_hour.items())
    return [
        SeriesPoint(datetime(1970, 1, 1, hour, tzinfo=scope.zone), by_hour.get(hour, Measures())) for hour in range(24)
    ]


def heatmap(facts: UsageFacts) -> list[HeatCell]:
    """All 7 x 24 cells, Monday 00:00 first."""
    cells = _regroup((((hour // 24 + _EPOCH_WEEKDAY) % 7, hour % 24), m) for hour, m in facts.by_local_hour.items())
    return [
        HeatCell(weekday, hour, cells.get((weekday, hour), Measures())) for weekday in range(7) for hour in range(24)
    ]


# ---------------------------------------------------------------- rankings


class Rank(enum.Enum):
    """What a ranking orders by, and what its shares are shares of."""

    TOKENS = "tokens"
    COST = "cost"

    def of(self, measures: Measures) -> int | Decimal:
        return measures.tokens_total if self is Rank.TOKENS else measures.cost_usd


@dataclass(frozen=True, slots=True)
class Breakdown:
    key: str
    label: str
    measures: Measures
    share: float


def top(groups: Mapping[str, Measures], labels: Mapping[str, str], rank: Rank, limit: int) -> list[Breakdown]:
    """The `limit` biggest groups by `rank` (ties by calls, then key), each with its share of all groups."""
    whole = sum((rank.of(m) for m in groups.values()), start=0)
    ordered = sorted(groups.items(), key=lambda item: (-rank.of(item[1]), -item[1].calls, item[0]))
    return [Breakdown(key, labels.get(key, key), m, ratio(rank.of(m), whole)) for key, m in ordered[:limit]]


def model_labels(catalogue: Catalogue, names: Iterable[str]) -> dict[str, str]:
    """Display names, from each model's latest version."""
    labels = {}
    for name in names:
        history = catalogue.history(name)
        labels[name] = history[-1].display_name if history else name
    return labels


def model_providers(catalogue: Catalogue, names: Iterable[str]) -> dict[str, str]:
    providers = {}
    for name in names:
        history = catalogue.history(name)
        providers[name] = history[-1].provider if history else ""
    return providers


# ---------------------------------------------------------------- cost analysis


@dataclass(frozen=True, slots=True)
class CostTotals:
    measures: Measures
    revenue_usd: Decimal
    margin_usd: Decimal
    efficiency_score: float  # revenue / cost


def cost_totals(measures: Measures, credit_price_usd: Decimal) -> CostTotals:
    revenue = measures.credits_used * credit_price_usd
    return CostTotals(measures, revenue, revenue - measures.cost_usd, ratio(revenue, measures.cost_usd))


@dataclass(frozen=True, slots=True)
class ModelComparison:
    model: str
    provider: str
    measures: Measures
    margin_usd: Decimal


def compare_models(
    by_name: Mapping[str, Measures], providers: Mapping[str, str], credit_price_usd: Decimal
) -> list[ModelComparison]:
    """Every model used in the range, the most costly first."""
    ordered = sorted(by_name.items(), key=lambda item: (-item[1].cost_usd, item[0]))
    return [ModelComparison(name, providers.get(name, ""), m, m.margin_usd(credit_price_usd)) for name, m in ordered]


class ProjectionMethod(enum.Enum):
    RUN_RATE = "run_rate"
    TREND = "trend"


@dataclass(frozen=True, slots=True)
class Projection:
    method: ProjectionMethod
    run_rate_daily_usd: Decimal
    trend_daily_usd: Decimal
    projected_30_days_usd: Decimal


def project(daily_costs: Sequence[Decimal]) -> Projection:
    """The next 30 days' cost, two ways.

    Run rate: the mean cost of the range's local days (empty days count). Trend: the
    least-squares line through the daily costs, continued over the next 30 days, each day
    clamped at zero; its daily figure is the mean of those 30 days. The projection quotes
    the trend once there are TREND_MIN_DAYS daily points, else the run rate.
    """
    days = len(daily_costs)
    if days == 0:
        return Projection(ProjectionMethod.RUN_RATE, ZERO, ZERO, ZERO)
    with localcontext() as context:
        context.prec = 60
        run_rate = sum(daily_costs, start=ZERO) / days
        trend = run_rate
        if days >= 2:
            middle = Decimal(days - 1) / 2
            spread = Decimal(days * (days * days - 1)) / 12  # sum of (x - mean x)^2 over x = 0..days-1
            slope = sum(((x - middle) * cost for x, cost in enumerate(daily_costs)), start=ZERO) / spread
            intercept = run_rate - slope * middle
            ahead = range(days, days + PROJECTION_DAYS)
            trend = sum((max(ZERO, intercept + slope * x) for x in ahead), start=ZERO) / PROJECTION_DAYS
        method = ProjectionMethod.TREND if days >= TREND_MIN_DAYS else ProjectionMethod.RUN_RATE
        quoted = trend if method is ProjectionMethod.TREND else run_rate
        return Projection(
            method, usd_quotient(run_rate, 1), usd_quotient(trend, 1), usd_quotient(quoted * PROJECTION_DAYS, 1)
        )


# ---------------------------------------------------------------- anomalies


@dataclass(frozen=True, slots=True)
class Anomaly:
    usage: UsageRecord
    average_cost_usd: Decimal
    factor: float  # the call's cost over the average


def check_factor(factor: float | None) -> Decimal:
    """The anomaly factor as the decimal the client wrote. Raises InvalidInput."""
    if factor is None or not math.isfinite(factor) or factor <= 0:
        raise InvalidInput("factor must be a positive number", field="factor")
    return Decimal(repr(factor))


def anomaly_thresholds(facts: UsageFacts, factor: Decimal) -> dict[int, Decimal]:
    """Per model version: calls costing more than this are anomalies (factor x the version's
    average cost in the scope). Exact: the threshold is that product floored to USD_PLACES,
    and a cost (a whole number of USD units) exceeds one exactly when it exceeds the other."""
    numerator, denominator = factor.as_integer_ratio()
    thresholds = {}
    for version, m in facts.by_model_version().items():
        if m.calls:
            units = int(m.cost_usd.scaleb(USD_PLACES)) * numerator // (denominator * m.calls)
            thresholds[version] = Decimal(units).scaleb(-USD_PLACES)
    return thresholds


def anomalies(facts: UsageFacts, costly: Iterable[UsageRecord], limit: int) -> list[Anomaly]:
    """The costly calls the read model found, most expensive first, with their version's average."""
    averages = facts.by_model_version()
    found = []
    for record in costly:
        m = averages.get(record.model_version_id)
        if m is None or not m.calls or not m.cost_usd:
            continue
        found.append(Anomaly(record, m.avg_cost_per_call, ratio(record.cost_usd_total * m.calls, m.cost_usd)))
    found.sort(key=lambda a: (a.usage.cost_usd_total, a.usage.occurred_at, a.usage.id or 0), reverse=True)
    return found[:limit]
