"""Forecast engine on synthetic deals: learned rates, slippage, intervals, metrics, honesty."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from insights._data import OPEN
from insights._engine import (
    WhatIf,
    auto_ets,
    bookings_series,
    calibrate,
    conformal_bounds,
    learn_dynamics,
    mape,
    mase,
    mase_scale,
    pipeline_estimate,
    seasonal_naive,
)
from insights.periods import Period, parse_period, period_of
from tests.unit.insights_helpers import deal, truncated

BASE = date(2024, 1, 1)


def _funnel(rng: random.Random, n: int, win_at: dict[str, float], slip: bool) -> list:
    """Deals walking the funnel with the given chance to advance from each stage."""
    deals = []
    for i in range(n):
        created = BASE + timedelta(days=rng.randint(0, 700))
        path, day = [(0, "prospecting")], 0
        for stage_index, stage in enumerate(OPEN):
            day += 10
            if rng.random() > win_at[stage]:
                path.append((day, "closed_lost"))
                break
            if stage_index == len(OPEN) - 1:
                # Slipping deals win a month after their expected close.
                path.append((day + (45 if slip else 0), "closed_won"))
                break
            path.append((day, OPEN[stage_index + 1]))
        deals.append(deal(i, created, path, amount=rng.choice([50.0, 100.0, 150.0]), close_after=day))
    return deals


def test_stage_win_probabilities_are_learned_from_histories() -> None:
    rng = random.Random(1)
    advance = {"prospecting": 0.5, "qualification": 0.8, "discovery": 0.8, "proposal": 0.9, "negotiation": 0.95}
    deals = _funnel(rng, 1500, advance, slip=False)
    dynamics = learn_dynamics(deals, period_of(date(2026, 2, 1)), date(2026, 1, 1))
    expected_negotiation = 0.95
    expected_prospecting = 0.5 * 0.8 * 0.8 * 0.9 * 0.95
    assert dynamics.win_rate["negotiation"] == pytest.approx(expected_negotiation, abs=0.04)
    assert dynamics.win_rate["prospecting"] == pytest.approx(expected_prospecting, abs=0.04)
    rates = [dynamics.win_rate[s] for s in OPEN]
    assert rates == sorted(rates)


def test_slippage_is_learned_from_close_dates_that_moved() -> None:
    advance = dict.fromkeys(OPEN, 0.9)
    month, as_of = period_of(date(2026, 2, 1), "month"), date(2026, 2, 1)
    on_time = learn_dynamics(_funnel(random.Random(2), 800, advance, slip=False), month, as_of)
    slipping = learn_dynamics(_funnel(random.Random(2), 800, advance, slip=True), month, as_of)
    assert slipping.slippage("negotiation") > on_time.slippage("negotiation") + 0.2


def test_pipeline_estimate_and_what_if_directions() -> None:
    deals = _funnel(random.Random(3), 600, dict.fromkeys(OPEN, 0.85), slip=False)
    period, as_of = period_of(date(2025, 11, 1)), date(2025, 11, 1)
    dynamics = learn_dynamics(deals, period, as_of)
    base = pipeline_estimate(deals, dynamics, period, as_of, new_business=100.0)
    assert base.open_expected > 0
    up = pipeline_estimate(deals, dynamics, period, as_of, 100.0, WhatIf(win_rate_shift=0.1))
    down = pipeline_estimate(deals, dynamics, period, as_of, 100.0, WhatIf(discount_rate=0.2))
    ramp = pipeline_estimate(deals, dynamics, period, as_of, 100.0, WhatIf(new_channel_ramp=0.5))
    assert up.open_expected > base.open_expected
    assert down.open_expected == pytest.approx(base.open_expected * 0.8)
    assert ramp.new_business > base.new_business
    assert base.booked == up.booked  # what's booked is booked


def test_big_account_delay_only_touches_enterprise_deals() -> None:
    as_of = date(2025, 11, 1)
    deals = [
        deal(
            1,
            as_of - timedelta(days=20),
            [(0, "prospecting"), (10, "negotiation")],
            close_after=40,
            segment="enterprise",
        ),
        deal(2, as_of - timedelta(days=20), [(0, "prospecting"), (10, "negotiation")], close_after=40, segment="smb"),
    ]
    history = _funnel(random.Random(4), 300, dict.fromkeys(OPEN, 0.85), slip=False)
    period = period_of(as_of)
    dynamics = learn_dynamics(history, period, as_of)
    base = {c.deal.id: c.expected for c in pipeline_estimate(deals, dynamics, period, as_of, 0.0).contributions}
    delayed = {
        c.deal.id: c.expected
        for c in pipeline_estimate(deals, dynamics, period, as_of, 0.0, WhatIf(big_account_delay=0.5)).contributions
    }
    assert delayed[1] == pytest.approx(base[1] * 0.5)
    assert delayed[2] == pytest.approx(base[2])


def test_conformal_interval_covers_at_its_level() -> None:
    rng = random.Random(5)
    calibration = [rng.gauss(0.0, 0.3) for _ in range(300)]
    low, high = conformal_bounds(calibration, 0.8)
    fresh = [rng.gauss(0.0, 0.3) for _ in range(5000)]
    coverage = sum(low <= r <= high for r in fresh) / len(fresh)
    assert 0.75 <= coverage <= 0.86
    assert conformal_bounds([0.1], 0.8) is None


def test_calibrate_learns_the_mix_weight_and_bias() -> None:
    # The pipeline view is exact but 20% high; the baseline is noise: weight 1, bias 1/1.2.
    rng = random.Random(6)
    rows = []
    for _ in range(10):
        actual = rng.uniform(80, 120)
        rows.append((0.0, actual * 1.2, rng.uniform(20, 200), actual))
    calibration = calibrate(rows, 0.8)
    assert calibration.weight == 1.0
    assert calibration.bias == pytest.approx(1 / 1.2, rel=0.02)
    assert calibration.bounds is not None and calibration.residual_periods == 10


def test_mape_and_mase_math() -> None:
    assert mape([100.0, 200.0], [110.0, 150.0]) == pytest.approx((0.1 + 0.25) / 2)
    assert mape([0.0], [5.0]) is None
    assert mase_scale([10.0, 14.0, 12.0]) == pytest.approx(3.0)
    assert mase([100.0, 200.0], [110.0, 150.0], [10.0, 50.0]) == pytest.approx((1.0 + 1.0) / 2)
    assert mase_scale([5.0, 5.0]) is None


def test_baselines_on_short_and_seasonal_series() -> None:
    assert seasonal_naive([1.0, 2.0, 3.0, 4.0, 5.0], 1, 4) == 2.0
    assert seasonal_naive([7.0], 1, 4) == 7.0
    seasonal = [10.0, 12.0, 9.0, 20.0] * 4
    value = auto_ets(seasonal, 4, 4)
    assert value == pytest.approx(20.0, rel=0.2)
    assert auto_ets([5.0, 6.0], 1, 4) >= 0.0
    assert auto_ets([], 1, 4) == 0.0


def test_periods_parse_and_walk() -> None:
    today = date(2026, 11, 23)
    assert parse_period(None, today).label == "2026-Q4"
    quarter = parse_period("2026-Q1", today)
    assert (quarter.start, quarter.end) == (date(2026, 1, 1), date(2026, 3, 31))
    month = parse_period("2026-02", today)
    assert month.end == date(2026, 2, 28) and month.shift(-2).label == "2025-12"
    assert Period("quarter", quarter.index).shift(-1).label == "2025-Q4"
    with pytest.raises(Exception, match="not understood"):
        parse_period("Q5-2026", today)


def test_forecast_fit_uses_only_data_known_at_the_origin() -> None:
    """The backtest is honest: a fit on full histories equals one on histories cut at as_of."""
    from insights.forecast import estimate, fit

    deals = _funnel(random.Random(7), 500, dict.fromkeys(OPEN, 0.85), slip=True)
    period = period_of(date(2025, 10, 1))
    as_of = period.start - timedelta(days=1)
    full = estimate(fit(deals, deals, period, as_of), deals, period, as_of, WhatIf())
    cut_deals = truncated(deals, as_of)
    cut = estimate(fit(cut_deals, cut_deals, period, as_of), cut_deals, period, as_of, WhatIf())
    assert full.point == pytest.approx(cut.point)
    assert (full.lower, full.upper) == pytest.approx((cut.lower, cut.upper))


def test_bookings_series_skips_the_empty_ramp_up() -> None:
    deals = [deal(1, date(2024, 1, 5), [(0, "prospecting"), (200, "closed_won")], amount=10.0)]
    periods, values = bookings_series(deals, period_of(date(2024, 12, 1)))
    assert values == [10.0, 0.0] and periods[0].label == "2024-Q3"
