"""Rolling-origin backtest of the forecast: at each origin only data known that day is used
(stage histories as of then, periods closed by then). Compares the copilot's forecast with
seasonal naive and a plain statsforecast AutoETS on the same booked-revenue series."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from bot.app import App
from bot.core.models import Territory
from insights._data import Scope, load_deals
from insights._engine import WhatIf, auto_ets, bookings, bookings_series, mape, mase, mase_scale, seasonal_naive
from insights.forecast import estimate, fit
from insights.periods import period_of

__all__ = ["backtest", "BacktestReport", "MethodScore"]

MIN_HISTORY = 4  # closed quarters of history before the first origin


@dataclass(frozen=True)
class MethodScore:
    mape: float | None
    mase: float | None


@dataclass(frozen=True)
class BacktestReport:
    copilot: MethodScore
    seasonal_naive: MethodScore
    auto_ets: MethodScore
    points: int
    origins: list[str]
    scopes: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backtest(app: App, today: date | None = None, progress=None) -> BacktestReport:  # noqa: ANN001
    """One-quarter-ahead forecasts made the day before each quarter starts, per territory."""
    as_of_today = today or date.today()
    with app.db.session() as session:
        deals = load_deals(session)
        territories = [(t.id, t.name, t.currency) for t in session.scalars(select(Territory).order_by(Territory.id))]
    if not deals:
        return BacktestReport(MethodScore(None, None), MethodScore(None, None), MethodScore(None, None), 0, [], [])
    first = period_of(min(d.created for d in deals))
    last_closed = period_of(as_of_today).shift(-1)
    targets = [first.shift(i) for i in range(MIN_HISTORY + 2, last_closed.index - first.index + 1)]
    rows, actual, copilot, naive, ets, scales = [], [], [], [], [], []
    total = len(targets) * len(territories)
    done = 0
    for territory_id, name, currency in territories:
        scope = Scope("territory", name, name, currency, None, territory_id=territory_id)
        scope_deals = [d for d in deals if scope.includes(d)]
        for period in targets:
            origin = period.start - timedelta(days=1)
            fitted = fit(deals, scope_deals, period, origin)
            ours = estimate(fitted, scope_deals, period, origin, WhatIf()).point
            _, history = bookings_series(scope_deals, period.shift(-1))
            truth = bookings(scope_deals, period)
            rows.append({
                "scope": f"territory:{name}", "period": period.label, "actual": round(truth, 2),
                "copilot": round(ours, 2), "seasonal_naive": round(seasonal_naive(history, 1, 4), 2),
                "auto_ets": round(auto_ets(history, 1, 4), 2),
            })
            actual.append(truth)
            copilot.append(ours)
            naive.append(rows[-1]["seasonal_naive"])
            ets.append(rows[-1]["auto_ets"])
            scales.append(mase_scale(history))
            done += 1
            if progress is not None:
                progress(done / total, f"{name} {period.label}")

    def score(predicted: list[float]) -> MethodScore:
        m, s = mape(actual, predicted), mase(actual, predicted, scales)
        return MethodScore(round(m, 4) if m is not None else None, round(s, 4) if s is not None else None)

    return BacktestReport(
        copilot=score(copilot),
        seasonal_naive=score(naive),
        auto_ets=score(ets),
        points=len(rows),
        origins=[(p.start - timedelta(days=1)).isoformat() for p in targets],
        scopes=[f"territory:{n}" for _, n, _ in territories],
        rows=rows,
    )
