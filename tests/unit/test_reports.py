"""Report arithmetic: local time, ratios that never divide by zero, projection, anomaly thresholds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from domain import reports
from domain.errors import InvalidInput
from domain.reports import Measures, OffsetSpan, Rank, UsageFacts

NEW_YORK = ZoneInfo("America/New_York")


def _scope(start: datetime, end: datetime, zone: str = "UTC") -> reports.ReportScope:
    return reports.report_scope(start, end, None, zone)


def _facts(by_local_hour: dict[int, Measures]) -> UsageFacts:
    return UsageFacts(by_local_hour, {}, {})


def test_a_dst_change_splits_the_range_at_the_quarter_hour_it_happens() -> None:
    scope = _scope(datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC), "America/New_York")
    change = reports.epoch_seconds(datetime(2026, 3, 8, 7, tzinfo=UTC))  # 02:00 EST becomes 03:00 EDT
    assert scope.spans[1:] == (OffsetSpan(change, -4 * 3600),) and scope.spans[0].offset == -5 * 3600
    assert scope.local_hour(change - 1) % 24 == 1 and scope.local_hour(change) % 24 == 3


def test_zones_with_half_and_three_quarter_hour_offsets_and_dst_shifts_are_exact() -> None:
    lord_howe = _scope(datetime(2026, 4, 4, tzinfo=UTC), datetime(2026, 4, 6, tzinfo=UTC), "Australia/Lord_Howe")
    assert [span.offset for span in lord_howe.spans] == [11 * 3600, 10 * 3600 + 1800]  # a 30-minute DST shift
    assert _scope(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC),
                  "Asia/Kathmandu").spans[0].offset == 5 * 3600 + 45 * 60


def test_every_local_date_gets_a_point_and_each_starts_at_its_local_midnight() -> None:
    start = datetime(2026, 10, 31, tzinfo=NEW_YORK)
    scope = _scope(start, datetime(2026, 11, 3, tzinfo=NEW_YORK), "America/New_York")
    # New York falls back on 2026-11-01: 01:30 EDT and 01:30 EST are both Nov 1, hour 1.
    twice = [scope.local_hour(reports.epoch_seconds(datetime(2026, 11, 1, h, 30, tzinfo=UTC))) for h in (5, 6)]
    assert twice[0] == twice[1] and twice[0] % 24 == 1
    series = reports.daily(_facts({twice[0]: Measures(calls=2)}), scope)
    assert [p.bucket.isoformat() for p in series] == [
        "2026-10-31T00:00:00-04:00", "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00"]
    assert [p.measures.calls for p in series] == [0, 2, 0]


def test_a_day_that_begins_in_a_dst_gap_starts_when_the_clocks_resume() -> None:
    # Santiago skips from 00:00 to 01:00 on 2026-09-06.
    assert reports.day_start(ZoneInfo("America/Santiago"), date(2026, 9, 6)).isoformat() == "2026-09-06T01:00:00-03:00"


def test_hourly_points_are_labelled_on_1970_01_01_and_the_heatmap_has_all_168_cells() -> None:
    scope = _scope(datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC), "Asia/Kolkata")
    monday_9am = reports.epoch_seconds(datetime(2026, 3, 2, 9, tzinfo=UTC)) // 3600
    facts = _facts({monday_9am: Measures(calls=3, tokens_input=30)})
    hourly = reports.hour_of_day(facts, scope)
    assert hourly[0].bucket.isoformat() == "1970-01-01T00:00:00+05:30" and hourly[9].measures.calls == 3
    cells = reports.heatmap(facts)
    assert len(cells) == 168 and [(c.weekday, c.hour) for c in cells if c.measures.calls] == [(0, 9)]


def test_ratios_of_nothing_are_zero() -> None:
    empty = Measures()
    assert (empty.success_rate, empty.avg_tokens_per_call, empty.output_per_input_token) == (0.0, 0.0, 0.0)
    assert empty.cost_per_1k_tokens == empty.avg_cost_per_call == D(0)
    totals = reports.cost_totals(empty, D("0.01"))
    assert (totals.revenue_usd, totals.margin_usd, totals.efficiency_score) == (D(0), D(0), 0.0)
    assert reports.project([]).projected_30_days_usd == D(0)
    assert reports.top({}, {}, Rank.COST, 10) == []


def test_money_quotients_round_once_half_even_to_ten_places() -> None:
    m = Measures(calls=3, tokens_input=7, cost_usd_input=D("0.0000000001"), cost_usd_output=D("0.00000000005"))
    assert m.avg_cost_per_call == D("0.0000000000")  # 0.00000000005 rounds to even
    assert Measures(calls=3, cost_usd_input=D("1")).avg_cost_per_call == D("0.3333333333")
    assert m.margin_usd(D("0.01")) == -m.cost_usd


def test_rankings_order_by_tokens_or_cost_and_give_shares_of_the_whole() -> None:
    groups = {"a": Measures(calls=1, tokens_input=10, cost_usd_input=D("3")),
              "b": Measures(calls=5, tokens_input=30, cost_usd_input=D("1")),
              "c": Measures(calls=1, tokens_input=10, cost_usd_input=D("0"))}
    by_tokens = reports.top(groups, {"a": "Alpha"}, Rank.TOKENS, 2)
    assert [(r.key, r.label, r.share) for r in by_tokens] == [("b", "b", 0.6), ("a", "Alpha", 0.2)]
    assert [r.key for r in reports.top(groups, {}, Rank.COST, 10)] == ["a", "b", "c"]


def test_the_trend_continues_a_line_and_never_projects_below_zero() -> None:
    rising = reports.project([D(n) for n in range(10)])  # y = x: the next 30 days average 24.5
    assert rising.method is reports.ProjectionMethod.TREND
    assert (rising.run_rate_daily_usd, rising.trend_daily_usd, rising.projected_30_days_usd) == (D("4.5"), D("24.5"),
                                                                                                 D("735"))
    falling = reports.project([D(7 - n) for n in range(8)])  # the line goes below zero from tomorrow
    assert falling.trend_daily_usd == D(0) and falling.projected_30_days_usd == D(0)


def test_fewer_than_seven_days_quote_the_run_rate() -> None:
    short = reports.project([D("1"), D("2"), D("4")])
    assert short.method is reports.ProjectionMethod.RUN_RATE
    assert short.run_rate_daily_usd == D("2.3333333333") and short.projected_30_days_usd == D("70")


def test_an_anomaly_costs_strictly_more_than_factor_times_its_versions_average() -> None:
    facts = UsageFacts({}, {(1, "ideas"): Measures(calls=3, cost_usd_input=D("0.0000000010")),
                            (2, "ideas"): Measures(calls=0)}, {})
    # average 1/3 of 1e-9; x 3 = exactly 1e-9, so only costs above 1e-9 are anomalies
    assert reports.anomaly_thresholds(facts, reports.check_factor(3.0)) == {1: D("0.0000000010")}
    assert reports.anomaly_thresholds(facts, reports.check_factor(2.5)) == {1: D("0.0000000008")}


@pytest.mark.parametrize("factor", [0.0, -1.0, float("nan"), float("inf"), None])
def test_a_factor_must_be_a_positive_number(factor: float | None) -> None:
    with pytest.raises(InvalidInput, match="factor"):
        reports.check_factor(factor)


@pytest.mark.parametrize(("start", "end", "zone", "message"), [
    (datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "UTC", "before"),
    (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 3, tzinfo=UTC), "UTC", "366 days"),
    (datetime(2026, 1, 1), datetime(2026, 1, 2, tzinfo=UTC), "UTC", "offset"),
    (datetime(1980, 1, 1, tzinfo=UTC), datetime(1980, 1, 2, tzinfo=UTC), "UTC", "1990"),
    (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), "Not/AZone", "unknown time zone"),
    (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), "right/UTC", "unknown time zone"),
])
def test_a_bad_filter_is_refused_with_a_reason(start: datetime, end: datetime, zone: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        reports.report_scope(start, end, None, zone)


def test_limits_clamp_to_0_through_100() -> None:
    assert [reports.clamp_limit(n, 10) for n in (None, -3, 0, 50, 1000)] == [10, 0, 0, 50, 100]


def test_the_range_reaches_the_local_date_of_its_last_instant_only() -> None:
    scope = _scope(datetime(2026, 3, 1, tzinfo=NEW_YORK), datetime(2026, 3, 3, tzinfo=NEW_YORK), "America/New_York")
    first, last = scope.first_and_last_day()
    assert last - first == 1
    assert reports.daily(_facts({}), scope)[-1].bucket.date() == date(2026, 3, 2)
    assert scope.start + timedelta(days=2) == scope.end
