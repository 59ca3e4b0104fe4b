"""The forecast engine, on plain deal values (no database): learned stage dynamics, the
time-series baseline, their combination, bias correction and conformal intervals.

Honesty rule: every function takes `as_of` and uses only what was known at the end of that
day (stage moves made by then, periods closed by then), so a backtest can replay any date.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from insights._data import OPEN, WON, Deal
from insights.periods import Period, period_of

logger = logging.getLogger(__name__)

LEARNING_PERIODS = 8
PRIOR_DEALS = 3.0  # pseudo-deals pulling a thin stage rate towards the pooled rate
WEIGHT_GRID = tuple(i / 10 for i in range(11))


@dataclass(frozen=True)
class Dynamics:
    """Stage-to-win probabilities and in-period timing learned from stage histories."""

    win_rate: dict[str, float]  # P(win | the deal reached this stage)
    timing: dict[tuple[str, str], float]  # (stage, 'in'|'later') -> P(closes inside the period | it wins)
    learning_periods: tuple[Period, ...]

    def slippage(self, stage: str) -> float:
        """Share of winning deals expected inside the period that close after it."""
        return 1.0 - self.timing[(stage, "in")]


@dataclass(frozen=True)
class WhatIf:
    win_rate_shift: float = 0.0
    deal_size_shift: float = 0.0
    big_account_delay: float = 0.0
    new_channel_ramp: float = 0.0
    discount_rate: float = 0.0
    cycle_stretch: float = 0.0
    competitor_pressure: float = 0.0


@dataclass(frozen=True)
class Contribution:
    deal: Deal
    stage: str
    amount: float
    close: date
    win_probability: float
    in_period_probability: float
    expected: float


@dataclass(frozen=True)
class PipelineEstimate:
    booked: float  # already won inside the period by as_of
    open_expected: float  # expected wins from today's open deals
    new_business: float  # expected wins from deals not yet created
    contributions: tuple[Contribution, ...] = field(default=())

    @property
    def remaining(self) -> float:
        return self.open_expected + self.new_business


def _origin(period: Period, learning: Period, as_of: date) -> date:
    """The same position inside a past period as `as_of` is relative to `period`."""
    offset = (as_of - period.start).days
    return learning.start + timedelta(days=min(offset, learning.days - 1))


def learning_periods(deals: Sequence[Deal], period: Period, as_of: date, limit: int = LEARNING_PERIODS) -> list[Period]:
    """Past periods like `period`, closed by `as_of`, with enough history before them."""
    if not deals:
        return []
    first_created = min(d.created for d in deals)
    found: list[Period] = []
    candidate = period.shift(-1)
    while len(found) < limit:
        if candidate.end <= as_of:
            if _origin(period, candidate, as_of) - first_created < timedelta(days=120):
                break
            found.append(candidate)
        candidate = candidate.shift(-1)
        if candidate.start.year < first_created.year - 1:
            break
    return list(reversed(found))


def learn_dynamics(deals: Sequence[Deal], period: Period, as_of: date) -> Dynamics:
    """Learn P(win | stage) from deals closed by `as_of`, and in-period timing (slippage) from
    how deals open at the same point of past periods actually closed."""
    won_by_stage = dict.fromkeys(OPEN, 0)
    closed_by_stage = dict.fromkeys(OPEN, 0)
    for deal in deals:
        end = deal.closed
        if end is None or end.day > as_of:
            continue
        for stage in OPEN:
            if deal.reached(stage, as_of):
                closed_by_stage[stage] += 1
                won_by_stage[stage] += end.stage == WON
    pooled = (sum(won_by_stage.values()) + 1) / (sum(closed_by_stage.values()) + 2)
    win_rate = {}
    for stage in OPEN:
        # Beta prior centred on the pooled rate: a stage seen a few times doesn't swing to 0 or 1.
        win_rate[stage] = (won_by_stage[stage] + PRIOR_DEALS * pooled) / (closed_by_stage[stage] + PRIOR_DEALS)
    # Stage rates can only rise along the funnel: reaching a later stage never lowers the odds.
    for i in range(1, len(OPEN)):
        win_rate[OPEN[i]] = max(win_rate[OPEN[i]], win_rate[OPEN[i - 1]])

    periods = learning_periods(deals, period, as_of)
    opened: dict[tuple[str, str], float] = {}
    won: dict[tuple[str, str], float] = {}
    for past in periods:
        origin = _origin(period, past, as_of)
        for deal in deals:
            state = deal.state_at(origin)
            if state is None or state.stage not in OPEN:
                continue
            bucket = "in" if state.close <= past.end else "later"
            key = (state.stage, bucket)
            opened[key] = opened.get(key, 0.0) + state.amount
            win = deal.won
            if win is not None and origin < win.day <= past.end and win.day >= past.start:
                won[key] = won.get(key, 0.0) + state.amount
    timing = {}
    for bucket in ("in", "later"):
        pooled_open = sum(v for (s, b), v in opened.items() if b == bucket)
        pooled_won = sum(v for (s, b), v in won.items() if b == bucket)
        mean_p = sum(win_rate.values()) / len(win_rate)
        pooled_timing = (
            min(1.0, (pooled_won / pooled_open) / mean_p) if pooled_open else (0.6 if bucket == "in" else 0.1)
        )
        count = sum(1 for _ in opened)
        typical = pooled_open / max(count, 1) if pooled_open else 1.0
        for stage in OPEN:
            key = (stage, bucket)
            open_amount = opened.get(key, 0.0) + PRIOR_DEALS * typical
            won_amount = won.get(key, 0.0) + PRIOR_DEALS * typical * pooled_timing * win_rate[stage]
            timing[key] = min(1.0, (won_amount / open_amount) / win_rate[stage])
    return Dynamics(win_rate, timing, tuple(periods))


def pipeline_estimate(
    deals: Iterable[Deal],
    dynamics: Dynamics,
    period: Period,
    as_of: date,
    new_business: float,
    what_if: WhatIf = WhatIf(),
) -> PipelineEstimate:
    """Booked so far plus the learned expectation of open deals (and new ones) closing in the period."""
    booked = 0.0
    contributions = []
    for deal in deals:
        win = deal.won
        if win is not None and period.start <= win.day <= min(period.end, as_of):
            booked += win.amount
            continue
        state = deal.state_at(as_of)
        if state is None or state.stage not in OPEN:
            continue
        bucket = "in" if state.close <= period.end else "later"
        p_win = dynamics.win_rate[state.stage] + what_if.win_rate_shift
        if deal.competitor:
            p_win *= 1.0 - what_if.competitor_pressure
        p_win = min(max(p_win, 0.0), 1.0)
        timing = dynamics.timing[(state.stage, bucket)] / (1.0 + what_if.cycle_stretch)
        if bucket == "in" and (deal.segment == "enterprise" or deal.key_account):
            timing *= 1.0 - what_if.big_account_delay
        timing = min(max(timing, 0.0), 1.0)
        amount = state.amount * (1.0 + what_if.deal_size_shift) * (1.0 - what_if.discount_rate)
        expected = amount * p_win * timing
        contributions.append(Contribution(deal, state.stage, amount, state.close, p_win, timing, expected))
    contributions.sort(key=lambda c: c.expected, reverse=True)
    ahead = max(1, period.index - period_of(as_of, period.kind).index + 1)
    new = new_business * (1.0 + what_if.new_channel_ramp * ahead) * (1.0 + what_if.deal_size_shift)
    return PipelineEstimate(booked, sum(c.expected for c in contributions), max(new, 0.0), tuple(contributions))


def new_business_rate(deals: Sequence[Deal], periods: Sequence[Period], period: Period, as_of: date) -> float:
    """Average bookings, in past periods, from deals created after the comparable origin."""
    if not periods:
        return 0.0
    totals = []
    for past in periods[-4:]:
        origin = _origin(period, past, as_of)
        total = 0.0
        for deal in deals:
            win = deal.won
            if deal.created > origin and win is not None and past.start <= win.day <= past.end:
                total += win.amount
        totals.append(total)
    return float(np.mean(totals))


def bookings(deals: Iterable[Deal], period: Period, as_of: date | None = None) -> float:
    cutoff = period.end if as_of is None else min(period.end, as_of)
    total = 0.0
    for deal in deals:
        win = deal.won
        if win is not None and period.start <= win.day <= cutoff:
            total += win.amount
    return total


def bookings_series(deals: Sequence[Deal], last: Period) -> tuple[list[Period], list[float]]:
    """Booked revenue per period, from the first period with a deal to `last` (closed)."""
    if not deals:
        return [], []
    first = period_of(min(d.created for d in deals), last.kind)
    periods = [first.shift(i) for i in range(last.index - first.index + 1)]
    by_index = {p.index: 0.0 for p in periods}
    for deal in deals:
        win = deal.won
        if win is not None:
            index = period_of(win.day, last.kind).index
            if index in by_index:
                by_index[index] += win.amount
    # The opening periods hold only the first deals' ramp-up, not the business: skip empty leads.
    values = [by_index[p.index] for p in periods]
    while len(values) > 1 and values[0] == 0.0:
        periods, values = periods[1:], values[1:]
    return periods, values


def auto_ets(series: Sequence[float], horizon: int, season_length: int) -> float:
    """statsforecast AutoETS point forecast `horizon` periods ahead; a shorter history falls
    back to a non-seasonal ETS, then to the mean."""
    from statsforecast.models import AutoETS

    y = np.asarray(series, dtype=float)
    if len(y) == 0:
        return 0.0
    horizon = max(horizon, 1)
    attempts = [season_length] if len(y) >= 2 * season_length + 2 else []
    attempts.append(1)
    for season in attempts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mean = AutoETS(season_length=season).forecast(y=y, h=horizon)["mean"]
            value = float(mean[horizon - 1])
            if math.isfinite(value):
                return max(value, 0.0)
        except Exception:  # statsforecast raises bare errors on tiny or flat series
            logger.debug("AutoETS(season_length=%s) failed on %s points", season, len(y), exc_info=True)
    return float(max(np.mean(y), 0.0))


def seasonal_naive(series: Sequence[float], horizon: int, season_length: int) -> float:
    if not series:
        return 0.0
    if len(series) >= season_length:
        back = season_length - ((horizon - 1) % season_length)
        return float(series[-back])
    return float(series[-1])


def mase_scale(series: Sequence[float]) -> float | None:
    """Mean absolute one-step naive change of the in-sample history (MASE's denominator)."""
    if len(series) < 2:
        return None
    diffs = np.abs(np.diff(np.asarray(series, dtype=float)))
    scale = float(diffs.mean())
    return scale if scale > 0 else None


def mape(actuals: Sequence[float], forecasts: Sequence[float]) -> float | None:
    pairs = [(a, f) for a, f in zip(actuals, forecasts, strict=True) if a > 0]
    if not pairs:
        return None
    return float(np.mean([abs(a - f) / a for a, f in pairs]))


def mase(actuals: Sequence[float], forecasts: Sequence[float], scales: Sequence[float | None]) -> float | None:
    terms = [abs(a - f) / s for a, f, s in zip(actuals, forecasts, scales, strict=True) if s]
    return float(np.mean(terms)) if terms else None


def conformal_bounds(residuals: Sequence[float], level: float) -> tuple[float, float] | None:
    """Split-conformal quantiles of relative residuals (actual/forecast - 1) with the
    finite-sample rank correction; None when too few residuals to say anything."""
    n = len(residuals)
    if n < 2:
        return None
    ordered = sorted(residuals)
    alpha = 1.0 - level
    lo_rank = max(math.floor((n + 1) * alpha / 2) - 1, 0)
    hi_rank = min(math.ceil((n + 1) * (1 - alpha / 2)) - 1, n - 1)
    return ordered[lo_rank], ordered[hi_rank]


@dataclass(frozen=True)
class Calibration:
    weight: float  # share of the pipeline estimate (the rest: time-series baseline)
    bias: float  # multiplier on the uncertain part, from past errors
    bounds: tuple[float, float] | None  # relative residual quantiles
    residual_periods: int
    backtest_actuals: tuple[float, ...]
    backtest_forecasts: tuple[float, ...]


def combine(booked: float, pipeline_remaining: float, baseline: float, weight: float) -> float:
    """Booked + weighted mix of the pipeline's and the baseline's view of what's still to come."""
    return booked + weight * pipeline_remaining + (1.0 - weight) * max(baseline - booked, 0.0)


def calibrate(rows: Sequence[tuple[float, float, float, float]], level: float) -> Calibration:
    """rows: (booked, pipeline_remaining, baseline, actual) at past comparable origins.
    Picks the mix weight, the bias multiplier and the interval by leave-one-out, so each
    residual is an out-of-sample error."""

    def fit(subset: Sequence[tuple[float, float, float, float]]) -> tuple[float, float]:
        if not subset:
            return 0.5, 1.0
        best = min(WEIGHT_GRID, key=lambda w: sum(abs(a - combine(b, p, s, w)) for b, p, s, a in subset))
        ratios = [(a - b) / (combine(b, p, s, best) - b) for b, p, s, a in subset if combine(b, p, s, best) - b > 0]
        bias = float(np.clip(np.median(ratios), 0.6, 1.6)) if ratios else 1.0
        return best, bias

    weight, bias = fit(rows)
    residuals, actuals, forecasts = [], [], []
    for i, (b, p, s, a) in enumerate(rows):
        w_i, bias_i = fit([r for j, r in enumerate(rows) if j != i])
        point = b + bias_i * (combine(b, p, s, w_i) - b)
        actuals.append(a)
        forecasts.append(point)
        if point - b > 0:
            residuals.append((a - b) / (point - b) - 1.0)
    return Calibration(
        weight, bias, conformal_bounds(residuals, level), len(residuals), tuple(actuals), tuple(forecasts)
    )
