"""Rolling-origin backtest of the forecast: at each origin only data known that day is used
(stage histories as of then, periods closed by then). Compares the copilot's forecast with
seasonal naive and a plain statsforecast AutoETS on the same booked-revenue series."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, TypeAlias

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.models import Territory
from insights._data import Scope, load_deals
from insights._engine import WhatIf, auto_ets, bookings, bookings_series, mape, mase, mase_scale, seasonal_naive
from insights.forecast import estimate, fit
from insights.periods import period_of

__all__ = ["BacktestReport", "BacktestRow", "MethodScore", "Progress", "backtest"]

MIN_HISTORY = 4  # closed quarters of history before the first origin

Progress: TypeAlias = Callable[[float, str], None]
"""Told the share done (0..1) and what is being forecast, after each forecast."""


@dataclass(frozen=True)
class MethodScore:
    mape: float | None
    mase: float | None


@dataclass(frozen=True)
class BacktestRow:
    scope: str
    period: str
    actual: float
    copilot: float
    seasonal_naive: float
    auto_ets: float


@dataclass(frozen=True)
class BacktestReport:
    copilot: MethodScore
    seasonal_naive: MethodScore
    auto_ets: MethodScore
    points: int
    origins: list[str]
    scopes: list[str]
    rows: list[BacktestRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backtest(session: Session, today: date | None = None, progress: Progress | None = None) -> BacktestReport:
    """One-quarter-ahead forecasts made the day before each quarter starts, per territory.
    Reads the deals from `session` first, then computes without it (writes nothing)."""
    as_of_today = today or date.today()
    deals = load_deals(session)
    territories = [(t.id, t.name, t.currency) for t in session.scalars(select(Territory).order_by(Territory.id))]
    if not deals:
        return BacktestReport(MethodScore(None, None), MethodScore(None, None), MethodScore(None, None), 0, [], [])
    first = period_of(min(d.created for d in deals))
    last_closed = period_of(as_of_today).shift(-1)
    targets = [first.shift(i) for i in range(MIN_HISTORY + 2, last_closed.index - first.index + 1)]
    rows: list[BacktestRow] = []
    # The scores use the unrounded actuals and forecasts; the rows show them to the cent.
    actual: list[float] = []
    ours: list[float] = []
    scales: list[float | None] = []
    total = len(targets) * len(territories)
    for territory_id, name, currency in territories:
        scope = Scope("territory", name, name, currency, None, territory_id=territory_id)
        scope_deals = [d for d in deals if scope.includes(d)]
        for period in targets:
            origin = period.start - timedelta(days=1)
            fitted = fit(deals, scope_deals, period, origin)
            ours.append(estimate(fitted, scope_deals, period, origin, WhatIf()).point)
            actual.append(bookings(scope_deals, period))
            _, history = bookings_series(scope_deals, period.shift(-1))
            rows.append(
                BacktestRow(
                    scope=f"territory:{name}",
                    period=period.label,
                    actual=round(actual[-1], 2),
                    copilot=round(ours[-1], 2),
                    seasonal_naive=round(seasonal_naive(history, 1, 4), 2),
                    auto_ets=round(auto_ets(history, 1, 4), 2),
                )
            )
            scales.append(mase_scale(history))
            if progress is not None:
                progress(len(rows) / total, f"{name} {period.label}")

    def score(predicted: list[float]) -> MethodScore:
        m, s = mape(actual, predicted), mase(actual, predicted, scales)
        return MethodScore(round(m, 4) if m is not None else None, round(s, 4) if s is not None else None)

    return BacktestReport(
        copilot=score(ours),
        seasonal_naive=score([r.seasonal_naive for r in rows]),
        auto_ets=score([r.auto_ets for r in rows]),
        points=len(rows),
        origins=[(p.start - timedelta(days=1)).isoformat() for p in targets],
        scopes=[f"territory:{n}" for _, n, _ in territories],
        rows=rows,
    )
