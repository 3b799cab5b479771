"""The two seed reports, tokenUsageReport and aiCostAnalysis (DOMAIN.md, "Reports").

Each query reads the scope's aggregates once; every field is computed from them on demand
(domain/reports.py). byAccount reads the accounts' names, and anomalies the costly calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import cast

import strawberry

from api.context import Info
from api.permissions import may_read_account
from api.types import UsageRecord
from domain import reports
from domain.catalogue import Catalogue
from domain.errors import Forbidden
from domain.model import Caller, Role
from domain.ports import ReportingUnitOfWork, ReportRepository, UnitOfWork
from domain.reports import Rank

DEFAULT_MODELS = 10
DEFAULT_OPERATIONS = 10
DEFAULT_ACCOUNTS = 15
DEFAULT_ANOMALIES = 50
DEFAULT_FACTOR = 3.0


def report_account(caller: Caller, requested: str | None) -> str | None:
    """Whose usage a report may cover (None: every account, ADMIN keys only). Raises Forbidden."""
    if caller.role is Role.ADMIN:
        return requested or None
    if caller.role is Role.ACCOUNT and caller.account_id and may_read_account(caller, requested or caller.account_id):
        return requested or caller.account_id
    raise Forbidden("this key may not read these reports")


def reports_of(uow: UnitOfWork) -> ReportRepository:
    # The SQL unit of work answers reports; UnitOfWork itself (and its fakes) need not.
    return cast(ReportingUnitOfWork, uow).reports


@dataclass
class ReportView:
    """A scope's aggregates and what every report field computes from them."""

    scope: reports.ReportScope
    facts: reports.UsageFacts
    catalogue: Catalogue
    _daily: list[reports.SeriesPoint] | None = field(default=None, repr=False)

    @property
    def credit_price_usd(self) -> Decimal:
        return self.catalogue.settings.credit_price_usd

    def by_model(self, rank: Rank, limit: int) -> list[reports.Breakdown]:
        groups = self.facts.by_model_name(self.catalogue)
        return reports.top(groups, reports.model_labels(self.catalogue, groups), rank, limit)

    def by_operation(self, rank: Rank, limit: int) -> list[reports.Breakdown]:
        return reports.top(self.facts.by_operation(), {}, rank, limit)

    def by_account(self, rank: Rank, limit: int, names: dict[str, str] | None = None) -> list[reports.Breakdown]:
        return reports.top(self.facts.by_account, names or {}, rank, limit)

    def daily(self) -> list[reports.SeriesPoint]:
        if self._daily is None:
            self._daily = reports.daily(self.facts, self.scope)
        return self._daily

    def hourly(self) -> list[reports.SeriesPoint]:
        return reports.hour_of_day(self.facts, self.scope)

    def projection(self) -> reports.Projection:
        return reports.project([point.measures.cost_usd for point in self.daily()])

    def model_comparison(self) -> list[reports.ModelComparison]:
        groups = self.facts.by_model_name(self.catalogue)
        return reports.compare_models(groups, reports.model_providers(self.catalogue, groups), self.credit_price_usd)

    def anomalies(self, repository: ReportRepository, limit: int, factor: float | None) -> list[reports.Anomaly]:
        thresholds = reports.anomaly_thresholds(self.facts, reports.check_factor(factor))
        return reports.anomalies(self.facts, repository.costly_calls(self.scope, thresholds, limit), limit)

    def labelled_accounts(self, repository: ReportRepository, rank: Rank, limit: int) -> list[reports.Breakdown]:
        found = self.by_account(rank, limit)
        return self.by_account(rank, limit, repository.account_names([row.key for row in found]))


# ---------------------------------------------------------------- GraphQL types


@strawberry.input(description="The half-open range [from, to) of usage occurredAt.")
class ReportFilter:
    from_: datetime = strawberry.field(name="from")
    to: datetime
    account_id: strawberry.ID | None = None
    timezone: str | None = strawberry.field(
        default="UTC", description="IANA zone name; days and hours are cut in this zone."
    )


@strawberry.type
class UsageTotals:
    calls: int
    successful_calls: int
    success_rate: float
    tokens_input: int
    tokens_output: int
    tokens_total: int
    credits_used: Decimal
    cost_usd: Decimal
    cost_per_1k_tokens: Decimal
    avg_tokens_per_call: float
    output_per_input_token: float

    @classmethod
    def from_domain(cls, m: reports.Measures) -> UsageTotals:
        return cls(
            calls=m.calls, successful_calls=m.successful_calls, success_rate=m.success_rate,
            tokens_input=m.tokens_input, tokens_output=m.tokens_output, tokens_total=m.tokens_total,
            credits_used=m.credits_used, cost_usd=m.cost_usd, cost_per_1k_tokens=m.cost_per_1k_tokens,
            avg_tokens_per_call=m.avg_tokens_per_call, output_per_input_token=m.output_per_input_token,
        )


@strawberry.type
class UsageBreakdown:
    key: str
    label: str
    calls: int
    success_rate: float
    tokens_input: int
    tokens_output: int
    tokens_total: int
    credits_used: Decimal
    cost_usd: Decimal
    cost_per_1k_tokens: Decimal
    share: float

    @classmethod
    def from_domain(cls, row: reports.Breakdown) -> UsageBreakdown:
        m = row.measures
        return cls(
            key=row.key, label=row.label, calls=m.calls, success_rate=m.success_rate, tokens_input=m.tokens_input,
            tokens_output=m.tokens_output, tokens_total=m.tokens_total, credits_used=m.credits_used,
            cost_usd=m.cost_usd, cost_per_1k_tokens=m.cost_per_1k_tokens, share=row.share,
        )


@strawberry.type
class UsagePoint:
    bucket: datetime = strawberry.field(
        description="Start of the bucket as local time in the report's zone, with that zone's offset: a local\n"
        "midnight for the daily series (one point per local date, empty dates included), or the hour\n"
        "of day on 1970-01-01 for the 24 hourly-pattern points."
    )
    calls: int
    tokens_input: int
    tokens_output: int
    tokens_total: int
    credits_used: Decimal
    cost_usd: Decimal

    @classmethod
    def from_domain(cls, point: reports.SeriesPoint) -> UsagePoint:
        m = point.measures
        return cls(
            bucket=point.bucket, calls=m.calls, tokens_input=m.tokens_input, tokens_output=m.tokens_output,
            tokens_total=m.tokens_total, credits_used=m.credits_used, cost_usd=m.cost_usd,
        )


@strawberry.type(description="weekday 0 = Monday ... 6 = Sunday and hour 0..23, both local to the report's zone.")
class HeatmapCell:
    weekday: int
    hour: int
    calls: int
    tokens_total: int
    cost_usd: Decimal

    @classmethod
    def from_domain(cls, cell: reports.HeatCell) -> HeatmapCell:
        m = cell.measures
        return cls(weekday=cell.weekday, hour=cell.hour, calls=m.calls, tokens_total=m.tokens_total,
                   cost_usd=m.cost_usd)


def _breakdowns(rows: list[reports.Breakdown]) -> list[UsageBreakdown]:
    return [UsageBreakdown.from_domain(row) for row in rows]


async def _accounts(info: Info, view: ReportView, rank: Rank, limit: int | None) -> list[UsageBreakdown]:
    count = reports.clamp_limit(limit, DEFAULT_ACCOUNTS)
    return _breakdowns(await info.context.read(lambda uow: view.labelled_accounts(reports_of(uow), rank, count)))


@strawberry.type
class _RankedTables:
    """The tables both reports share; each report ranks them by its own measure."""

    view: strawberry.Private[ReportView]
    rank: strawberry.Private[Rank]

    @strawberry.field
    def by_model(self, limit: int | None = DEFAULT_MODELS) -> list[UsageBreakdown]:
        return _breakdowns(self.view.by_model(self.rank, reports.clamp_limit(limit, DEFAULT_MODELS)))

    @strawberry.field
    def by_operation(self, limit: int | None = DEFAULT_OPERATIONS) -> list[UsageBreakdown]:
        return _breakdowns(self.view.by_operation(self.rank, reports.clamp_limit(limit, DEFAULT_OPERATIONS)))

    @strawberry.field
    async def by_account(self, info: Info, limit: int | None = DEFAULT_ACCOUNTS) -> list[UsageBreakdown]:
        return await _accounts(info, self.view, self.rank, limit)

    @strawberry.field
    def daily(self) -> list[UsagePoint]:
        return [UsagePoint.from_domain(point) for point in self.view.daily()]

    @strawberry.field
    def hourly(self) -> list[UsagePoint]:
        return [UsagePoint.from_domain(point) for point in self.view.hourly()]


@strawberry.type
class TokenUsageReport(_RankedTables):
    @strawberry.field
    def totals(self) -> UsageTotals:
        return UsageTotals.from_domain(self.view.facts.totals())

    @strawberry.field
    def heatmap(self) -> list[HeatmapCell]:
        return [HeatmapCell.from_domain(cell) for cell in reports.heatmap(self.view.facts)]


@strawberry.type
class CostTotals:
    calls: int
    cost_usd: Decimal
    cost_usd_input: Decimal
    cost_usd_output: Decimal
    avg_cost_per_call: Decimal
    credits_used: Decimal
    revenue_usd: Decimal
    margin_usd: Decimal
    efficiency_score: float

    @classmethod
    def from_domain(cls, totals: reports.CostTotals) -> CostTotals:
        m = totals.measures
        return cls(
            calls=m.calls, cost_usd=m.cost_usd, cost_usd_input=m.cost_usd_input, cost_usd_output=m.cost_usd_output,
            avg_cost_per_call=m.avg_cost_per_call, credits_used=m.credits_used, revenue_usd=totals.revenue_usd,
            margin_usd=totals.margin_usd, efficiency_score=totals.efficiency_score,
        )


@strawberry.type
class CostProjection:
    method: str
    run_rate_daily_usd: Decimal
    trend_daily_usd: Decimal
    projected_30_days_usd: Decimal

    @classmethod
    def from_domain(cls, projection: reports.Projection) -> CostProjection:
        return cls(
            method=projection.method.value, run_rate_daily_usd=projection.run_rate_daily_usd,
            trend_daily_usd=projection.trend_daily_usd, projected_30_days_usd=projection.projected_30_days_usd,
        )


@strawberry.type
class CostAnomaly:
    usage: UsageRecord
    average_cost_usd: Decimal
    factor: float

    @classmethod
    def from_domain(cls, anomaly: reports.Anomaly) -> CostAnomaly:
        return cls(usage=UsageRecord.from_domain(anomaly.usage), average_cost_usd=anomaly.average_cost_usd,
                   factor=anomaly.factor)


@strawberry.type
class ModelComparisonRow:
    model: str
    provider: str
    calls: int
    success_rate: float
    tokens_input: int
    tokens_output: int
    avg_tokens_per_call: float
    cost_usd: Decimal
    cost_per_1k_tokens: Decimal
    avg_cost_per_call: Decimal
    credits_used: Decimal
    margin_usd: Decimal

    @classmethod
    def from_domain(cls, row: reports.ModelComparison) -> ModelComparisonRow:
        m = row.measures
        return cls(
            model=row.model, provider=row.provider, calls=m.calls, success_rate=m.success_rate,
            tokens_input=m.tokens_input, tokens_output=m.tokens_output, avg_tokens_per_call=m.avg_tokens_per_call,
            cost_usd=m.cost_usd, cost_per_1k_tokens=m.cost_per_1k_tokens, avg_cost_per_call=m.avg_cost_per_call,
            credits_used=m.credits_used, margin_usd=row.margin_usd,
        )


@strawberry.type(name="AICostAnalysis")
class AICostAnalysis(_RankedTables):
    @strawberry.field
    def totals(self) -> CostTotals:
        return CostTotals.from_domain(reports.cost_totals(self.view.facts.totals(), self.view.credit_price_usd))

    @strawberry.field
    def projection(self) -> CostProjection:
        return CostProjection.from_domain(self.view.projection())

    @strawberry.field
    async def anomalies(
        self, info: Info, limit: int | None = DEFAULT_ANOMALIES, factor: float | None = DEFAULT_FACTOR
    ) -> list[CostAnomaly]:
        count = reports.clamp_limit(limit, DEFAULT_ANOMALIES)
        reports.check_factor(factor)  # before any database work
        found = await info.context.read(lambda uow: self.view.anomalies(reports_of(uow), count, factor))
        return [CostAnomaly.from_domain(anomaly) for anomaly in found]

    @strawberry.field
    def model_comparison(self) -> list[ModelComparisonRow]:
        return [ModelComparisonRow.from_domain(row) for row in self.view.model_comparison()]


# ---------------------------------------------------------------- queries


async def _view(info: Info, report_filter: ReportFilter) -> ReportView:
    requested = str(report_filter.account_id) if report_filter.account_id else None
    account = report_account(info.context.caller, requested)
    scope = reports.report_scope(report_filter.from_, report_filter.to, account, report_filter.timezone)
    facts = await info.context.read(lambda uow: reports_of(uow).usage_facts(scope))
    return ReportView(scope, facts, await info.context.catalogue())


async def token_usage_report(info: Info, filter: ReportFilter) -> TokenUsageReport:  # noqa: A002 - the contract's name
    return TokenUsageReport(view=await _view(info, filter), rank=Rank.TOKENS)


async def ai_cost_analysis(info: Info, filter: ReportFilter) -> AICostAnalysis:  # noqa: A002
    return AICostAnalysis(view=await _view(info, filter), rank=Rank.COST)
