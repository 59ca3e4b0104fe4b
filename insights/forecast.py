"""Calibrated sales forecasts with tracked accuracy and what-if scenarios.

Method (see docs/insights.md): pipeline-weighted expectation with stage-to-win probabilities
and in-period timing (slippage) learned from the stage histories, mixed with a statsforecast
AutoETS baseline on booked revenue; the mix weight, a bias multiplier and a conformal
interval come from leave-one-out errors at the same point of past periods. Every forecast is
snapshotted; closed periods get their actuals recorded, and MAPE/MASE per scope are reported
with every answer.

Everything runs in the caller's session (one unit of work). The deals and the learned models
are cached for the process, keyed on the database the session is bound to and on its data
version, so a what-if re-runs only the cheap part.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, TypeAlias

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from bot.core.errors import InvalidInput
from bot.core.identity import Identity
from bot.core.models import Account, Actual, ForecastSnapshot, Territory, User
from insights._data import Deal, Scope, data_version, load_deals, resolve_scope, target_for
from insights._engine import (
    Calibration,
    Contribution,
    Dynamics,
    WhatIf,
    _origin,
    auto_ets,
    bookings,
    bookings_series,
    calibrate,
    combine,
    learn_dynamics,
    mape,
    mase,
    mase_scale,
    new_business_rate,
    pipeline_estimate,
)
from insights.periods import Period, parse_period, period_of

__all__ = [
    "WHAT_IF_PARAMETERS",
    "Accuracy",
    "ForecastMethod",
    "ForecastResult",
    "OpportunityPick",
    "WhatIfParameter",
    "forecast",
    "record_actuals",
]

INTERVAL_LEVEL = 0.8
METHOD = "copilot"
METHOD_WHAT_IF = "copilot_what_if"
METHOD_NAME = "pipeline-weighted (learned stage rates and slippage) + AutoETS baseline, conformal interval"


@dataclass(frozen=True)
class WhatIfParameter:
    name: str
    description_en: str
    description_zh: str
    default: float
    minimum: float
    maximum: float


WHAT_IF_PARAMETERS: dict[str, WhatIfParameter] = {
    p.name: p
    for p in (
        WhatIfParameter(
            "win_rate_shift",
            "Win-rate shift in points (0.05 = +5 points) for every open deal",
            "赢单率变化（0.05 = 提高5个百分点）",
            0.0,
            -0.5,
            0.5,
        ),
        WhatIfParameter(
            "deal_size_shift",
            "Deal-size change (0.1 = open deals 10% larger)",
            "客单价变化（0.1 = 在途商机金额增加10%）",
            0.0,
            -0.9,
            2.0,
        ),
        WhatIfParameter(
            "big_account_delay",
            "Delivery-delay coefficient for enterprise and key accounts "
            "(0.3 = 30% of their in-period closings slip out)",
            "大客户交付延迟系数（0.3 = 企业级/重点客户30%的本期成交推迟）",
            0.0,
            0.0,
            1.0,
        ),
        WhatIfParameter(
            "new_channel_ramp",
            "New-channel ramp slope: extra new-business bookings per period ahead "
            "(0.2 = +20% in the current period, +40% next)",
            "新渠道爬坡斜率（0.2 = 本期新业务+20%，下期+40%）",
            0.0,
            0.0,
            3.0,
        ),
        WhatIfParameter(
            "discount_rate",
            "Extra average discount on open deals (0.1 = 10% off)",
            "在途商机额外折扣（0.1 = 九折）",
            0.0,
            0.0,
            0.9,
        ),
        WhatIfParameter(
            "cycle_stretch",
            "Sales-cycle change (0.25 = cycles 25% longer, fewer closings land in the period)",
            "销售周期变化（0.25 = 周期延长25%）",
            0.0,
            -0.5,
            2.0,
        ),
        WhatIfParameter(
            "competitor_pressure",
            "Win-odds cut on deals with a named competitor (0.2 = 20% lower)",
            "竞品压力（0.2 = 有竞品商机的赢单率降低20%）",
            0.0,
            0.0,
            1.0,
        ),
    )
}


@dataclass(frozen=True)
class Accuracy:
    """How good this scope's forecasts have been: always part of a forecast answer."""

    mape: float | None
    mase: float | None
    periods: int
    source: str  # tracked: snapshots vs recorded actuals | backtest: replay of past periods
    bias_correction: float  # multiplier applied to the not-yet-booked part


@dataclass(frozen=True)
class OpportunityPick:
    id: int
    name: str
    account: str
    amount: float
    stage: str
    expected_close: str
    expected_value: float
    why: str


@dataclass(frozen=True)
class ForecastMethod:
    """How the point was made: both parts, the mix and what was learned."""

    name: str
    pipeline_weighted: float
    baseline: float
    pipeline_weight: float
    open_pipeline_expected: float
    new_business_expected: float
    learned_win_rate: dict[str, float]
    learned_slippage: dict[str, float]
    learning_periods: list[str]
    interval_calibrated: bool


@dataclass(frozen=True)
class ForecastResult:
    scope: str
    scope_label: str
    period: str
    as_of: str
    currency: str
    point: float
    lower: float
    upper: float
    interval_level: float
    booked_to_date: float
    method: ForecastMethod
    target: float | None
    gap_to_target: float | None
    attainment_forecast: float | None
    accuracy: Accuracy
    what_if: dict[str, float]
    top_opportunities: list[OpportunityPick] = field(default_factory=list)
    snapshot_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Fitted:
    dynamics: Dynamics
    calibration: Calibration
    baseline: float
    new_business: float
    scales: tuple[float | None, ...]
    series_scale: float | None


# The database a session is bound to, and what its deals looked like (see data_version).
_DataKey: TypeAlias = tuple[URL, tuple[float, ...]]
_FitKey: TypeAlias = tuple[_DataKey, str, frozenset[int] | None, Period, date]

_CACHE: OrderedDict[_FitKey, _Fitted] = OrderedDict()
_DEALS: dict[_DataKey, list[Deal]] = {}
_LOCK = threading.Lock()
_CACHE_SIZE = 128


def _last_closed(day: date, kind: str) -> Period:
    return period_of(day + timedelta(days=1), kind).shift(-1)


def fit(
    all_deals: list[Deal], scope_deals: list[Deal], period: Period, as_of: date, level: float = INTERVAL_LEVEL
) -> _Fitted:
    """Learn everything a forecast of `period` made on `as_of` needs, from data known then."""
    dynamics = learn_dynamics(all_deals, period, as_of)
    new_business = new_business_rate(scope_deals, dynamics.learning_periods, period, as_of)
    rows: list[tuple[float, float, float, float]] = []
    scales: list[float | None] = []
    for past in dynamics.learning_periods:
        origin = _origin(period, past, as_of)
        estimate = pipeline_estimate(scope_deals, dynamics, past, origin, new_business)
        last = _last_closed(origin, period.kind)
        _, history = bookings_series(scope_deals, last)
        base = auto_ets(history, past.index - last.index, period.season_length)
        rows.append((estimate.booked, estimate.remaining, base, bookings(scope_deals, past)))
        scales.append(mase_scale(history))
    calibration = calibrate(rows, level)
    last = _last_closed(as_of, period.kind)
    _, history = bookings_series(scope_deals, last)
    baseline = auto_ets(history, period.index - last.index, period.season_length)
    return _Fitted(dynamics, calibration, baseline, new_business, tuple(scales), mase_scale(history))


@dataclass(frozen=True)
class Estimate:
    point: float
    lower: float
    upper: float
    booked: float
    pipeline_total: float
    baseline: float
    open_expected: float
    new_business: float
    contributions: tuple[Contribution, ...]


def estimate(
    fitted: _Fitted, scope_deals: list[Deal], period: Period, as_of: date, what_if: WhatIf, extra_bias: float = 1.0
) -> Estimate:
    """The calibrated forecast (the cheap part: what-if re-runs only this)."""
    plain = pipeline_estimate(scope_deals, fitted.dynamics, period, as_of, fitted.new_business)
    scenario = pipeline_estimate(scope_deals, fitted.dynamics, period, as_of, fitted.new_business, what_if)
    booked = scenario.booked
    if period.end <= as_of:
        return Estimate(booked, booked, booked, booked, booked, fitted.baseline, 0.0, 0.0, ())
    # A scenario moves the baseline's view of the remainder in proportion to the pipeline's.
    ratio = scenario.remaining / plain.remaining if plain.remaining > 0 else 1.0
    weight = fitted.calibration.weight
    mixed = combine(booked, scenario.remaining, booked + max(fitted.baseline - booked, 0.0) * ratio, weight)
    bias = fitted.calibration.bias * extra_bias
    uncertain = max(mixed - booked, 0.0) * bias
    point = booked + uncertain
    bounds = fitted.calibration.bounds or (-0.5, 0.5)
    lower = max(booked, booked + uncertain * (1.0 + bounds[0]))
    upper = max(point, booked + uncertain * (1.0 + bounds[1]))
    return Estimate(
        point,
        min(lower, point),
        upper,
        booked,
        booked + scenario.remaining,
        fitted.baseline,
        scenario.open_expected,
        scenario.new_business,
        scenario.contributions,
    )


def parse_what_if(what_if: dict[str, float] | None) -> WhatIf:
    values: dict[str, float] = {}
    for name, raw in (what_if or {}).items():
        parameter = WHAT_IF_PARAMETERS.get(name)
        if parameter is None:
            raise InvalidInput(f"Unknown what-if parameter '{name}'. Choose one of: {', '.join(WHAT_IF_PARAMETERS)}.")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise InvalidInput(f"What-if '{name}' needs a number, got '{raw}'.") from None
        if not parameter.minimum <= value <= parameter.maximum:
            raise InvalidInput(f"What-if '{name}' must be between {parameter.minimum} and {parameter.maximum}.")
        values[name] = value
    return WhatIf(**values)


def _database(session: Session) -> URL:
    """The URL of the database the session is bound to (an Engine, or a Connection of one)."""
    return session.get_bind().engine.url


def _deals(session: Session) -> tuple[_DataKey, list[Deal]]:
    key: _DataKey = (_database(session), data_version(session))
    with _LOCK:
        if key not in _DEALS:
            _DEALS.clear()
            _DEALS[key] = load_deals(session)
        return key, _DEALS[key]


def _fitted(
    data: _DataKey, scope: Scope, all_deals: list[Deal], scope_deals: list[Deal], period: Period, as_of: date
) -> _Fitted:
    key: _FitKey = (data, scope.text, scope.account_ids, period, as_of)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    fitted = fit(all_deals, scope_deals, period, as_of)
    with _LOCK:
        _CACHE[key] = fitted
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return fitted


def _why(contribution: Contribution, period: Period, dynamics: Dynamics) -> str:
    deal = contribution.deal
    parts = [
        f"{contribution.stage} stage: learned win rate {contribution.win_probability:.0%}",
        f"{contribution.in_period_probability:.0%} chance a win lands in {period.label}"
        f" (expected close {contribution.close.isoformat()})",
    ]
    if deal.key_account:
        parts.append("key account")
    if deal.competitor:
        parts.append(f"competing with {deal.competitor}: protect it")
    if contribution.stage in ("proposal", "negotiation") and dynamics.slippage(contribution.stage) > 0.3:
        parts.append(f"{dynamics.slippage(contribution.stage):.0%} of such deals slip: lock the close plan")
    return "; ".join(parts)


def forecast(
    session: Session,
    identity: Identity,
    scope: str,
    period: str | None = None,
    what_if: dict[str, float] | None = None,
    *,
    today: date | None = None,
    snapshot: bool = True,
) -> ForecastResult:
    """Forecast bookings for a territory, rep, account or product in a quarter or month, with
    an interval, the gap to target, the tracked accuracy and the three deals to work first.
    The caller must be allowed to see the scope (rep: own book; manager: own territory).
    Writes the snapshot (unless `snapshot=False`) and any actuals now due into `session`."""
    as_of = today or date.today()
    target_period = parse_period(period, as_of)
    scenario = parse_what_if(what_if)
    resolved = resolve_scope(session, identity, scope)
    data, all_deals = _deals(session)
    scope_deals = [d for d in all_deals if resolved.includes(d)]
    fitted = _fitted(data, resolved, all_deals, scope_deals, target_period, as_of)
    record_actuals(session, as_of, deals=all_deals)
    accuracy, extra_bias = _accuracy(session, resolved, fitted, as_of)
    result = estimate(fitted, scope_deals, target_period, as_of, scenario, extra_bias)
    target = target_for(session, resolved, target_period.label)
    picks = [
        OpportunityPick(
            id=c.deal.id,
            name=c.deal.name,
            account=c.deal.account,
            amount=round(c.amount, 2),
            stage=c.stage,
            expected_close=c.close.isoformat(),
            expected_value=round(c.expected, 2),
            why=_why(c, target_period, fitted.dynamics),
        )
        for c in result.contributions[:3]
    ]
    applied = {k: v for k, v in asdict(scenario).items() if v}
    method = ForecastMethod(
        name=METHOD_NAME,
        pipeline_weighted=round(result.pipeline_total, 2),
        baseline=round(result.baseline, 2),
        pipeline_weight=fitted.calibration.weight,
        open_pipeline_expected=round(result.open_expected, 2),
        new_business_expected=round(result.new_business, 2),
        learned_win_rate={k: round(v, 3) for k, v in fitted.dynamics.win_rate.items()},
        learned_slippage={s: round(fitted.dynamics.slippage(s), 3) for s in fitted.dynamics.win_rate},
        learning_periods=[p.label for p in fitted.dynamics.learning_periods],
        interval_calibrated=fitted.calibration.bounds is not None,
    )
    snapshot_id = None
    if snapshot:
        restricted = (
            sorted(resolved.account_ids)
            if resolved.scope_type == "product" and resolved.account_ids is not None
            else None
        )
        row = ForecastSnapshot(
            scope_type=resolved.scope_type,
            scope_key=resolved.key,
            period=target_period.label,
            as_of=as_of,
            method=METHOD_WHAT_IF if applied else METHOD,
            point=result.point,
            lower=result.lower,
            upper=result.upper,
            interval_level=INTERVAL_LEVEL,
            currency=resolved.currency,
            details={
                "what_if": applied,
                "booked": result.booked,
                "weight": fitted.calibration.weight,
                "restricted_to": restricted,
            },
            created_by_id=identity.user_id,
        )
        session.add(row)
        session.flush()
        snapshot_id = row.id
    return ForecastResult(
        scope=resolved.text,
        scope_label=resolved.label,
        period=target_period.label,
        as_of=as_of.isoformat(),
        currency=resolved.currency,
        point=round(result.point, 2),
        lower=round(result.lower, 2),
        upper=round(result.upper, 2),
        interval_level=INTERVAL_LEVEL,
        booked_to_date=round(result.booked, 2),
        method=method,
        target=target,
        gap_to_target=round(target - result.point, 2) if target is not None else None,
        attainment_forecast=round(result.point / target, 4) if target else None,
        accuracy=accuracy,
        what_if=applied,
        top_opportunities=picks,
        snapshot_id=snapshot_id,
    )


def _accuracy(session: Session, scope: Scope, fitted: _Fitted, as_of: date) -> tuple[Accuracy, float]:
    """Tracked accuracy from snapshots vs actuals when there are any, else the backtest's;
    with three or more tracked periods their remaining bias corrects the forecast."""
    pairs = tracked_pairs(session, scope.scope_type, scope.key)
    calibration = fitted.calibration
    if pairs:
        actual = [a for _, a in pairs]
        predicted = [p for p, _ in pairs]
        scale = fitted.series_scale
        ratios = [a / p for p, a in pairs if p > 0]
        extra = float(np.clip(np.median(ratios), 0.7, 1.4)) if len(ratios) >= 3 else 1.0
        tracked = Accuracy(
            _round(mape(actual, predicted)),
            _round(mase(actual, predicted, [scale] * len(actual))),
            len(pairs),
            "tracked",
            round(calibration.bias * extra, 4),
        )
        return tracked, extra
    backtest = Accuracy(
        _round(mape(calibration.backtest_actuals, calibration.backtest_forecasts)),
        _round(mase(calibration.backtest_actuals, calibration.backtest_forecasts, list(fitted.scales))),
        len(calibration.backtest_actuals),
        "backtest",
        round(calibration.bias, 4),
    )
    return backtest, 1.0


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def tracked_pairs(session: Session, scope_type: str, scope_key: str) -> list[tuple[float, float]]:
    """(forecast, actual) per closed period: the earliest plain forecast made for it."""
    actuals = {
        a.period: a.amount
        for a in session.scalars(select(Actual).where(Actual.scope_type == scope_type, Actual.scope_key == scope_key))
    }
    if not actuals:
        return []
    first: dict[str, ForecastSnapshot] = {}
    for snap in session.scalars(
        select(ForecastSnapshot)
        .where(
            ForecastSnapshot.scope_type == scope_type,
            ForecastSnapshot.scope_key == scope_key,
            ForecastSnapshot.method == METHOD,
        )
        .order_by(ForecastSnapshot.as_of, ForecastSnapshot.id)
    ):
        first.setdefault(snap.period, snap)
    return [(first[p].point, actuals[p]) for p in sorted(first) if p in actuals]


def record_actuals(session: Session, today: date | None = None, *, deals: list[Deal] | None = None) -> int:
    """Record booked revenue for every snapshotted scope whose period has closed (once);
    returns how many were recorded. `deals`: the loaded deals, when the caller has them."""
    as_of = today or date.today()
    done = {(a.scope_type, a.scope_key, a.period) for a in session.scalars(select(Actual))}
    # One actual per scope and period, measured like its earliest snapshot (the tracked one).
    pending: dict[tuple[str, str, str], ForecastSnapshot] = {}
    for snap in session.scalars(select(ForecastSnapshot).order_by(ForecastSnapshot.as_of, ForecastSnapshot.id)):
        if (snap.scope_type, snap.scope_key, snap.period) not in done:
            pending.setdefault((snap.scope_type, snap.scope_key, snap.period), snap)
    if not pending:
        return 0
    if deals is None:
        deals = load_deals(session)
    recorded = 0
    for (scope_type, key, label), snap in pending.items():
        period = parse_period(label, as_of)
        if period.end >= as_of:
            continue
        restricted = (snap.details or {}).get("restricted_to")
        scope = _scope_from_key(session, scope_type, key, None if restricted is None else tuple(restricted))
        if scope is None:
            continue
        amount = bookings([d for d in deals if scope.includes(d)], period)
        session.add(Actual(scope_type=scope_type, scope_key=key, period=label, amount=amount, currency=snap.currency))
        recorded += 1
    session.flush()
    return recorded


def _scope_from_key(session: Session, scope_type: str, key: str, restricted_to: tuple[int, ...] | None) -> Scope | None:
    """The scope a snapshot was made for, from its stored key (no permission check: the
    snapshot was checked when it was made)."""
    if scope_type == "territory":
        territory = session.scalar(select(Territory).where(Territory.name == key))
        return Scope("territory", key, key, territory.currency, None, territory_id=territory.id) if territory else None
    if scope_type == "rep":
        user = session.scalar(select(User).where(User.handle == key))
        return Scope("rep", key, key, "", None, owner_id=user.id) if user else None
    if scope_type == "account":
        account = session.scalar(select(Account).where(Account.name == key))
        return Scope("account", key, key, "", frozenset({account.id})) if account else None
    if scope_type == "product":
        accounts = frozenset(restricted_to) if restricted_to is not None else None
        return Scope("product", key, key, "", accounts, product=key.split("@", maxsplit=1)[0])
    return None
