"""Territory summaries for managers (a rep gets their own book), with a PNG chart."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.app import App
from bot.core.identity import Identity
from bot.core.access import find_territory as get_territory, require_role
from bot.core.models import Account, Call, Role, User
from insights._data import Deal, OPEN, load_deals
from insights._engine import bookings
from insights.forecast import ForecastResult, forecast
from insights.periods import period_of
from insights.resonance import scores_for_accounts
from insights.risk import AlertView, evaluate, list_alerts

__all__ = ["territory_summary", "TerritorySummary", "PipelineHealth", "ResonanceMove"]
HISTORY_QUARTERS = 6


@dataclass(frozen=True)
class PipelineHealth:
    open_amount: float
    open_deals: int
    closing_this_period: float
    coverage: float | None  # open amount expected to close this quarter / target still to book
    stage_ageing_days: dict[str, float]  # mean days in the current stage, per open stage
    by_stage: dict[str, float]
    slipped_share: float  # open deals whose expected close was pushed out at least once


@dataclass(frozen=True)
class ResonanceMove:
    account: str
    score: float
    change_30d: float


@dataclass(frozen=True)
class TerritorySummary:
    scope: str
    title: str
    period: str
    currency: str
    booked: float
    target: float | None
    attainment: float | None
    forecast: ForecastResult
    pipeline: PipelineHealth
    top_opportunities: list[dict[str, Any]]
    resonance_rising: list[ResonanceMove]
    resonance_falling: list[ResonanceMove]
    risk_alerts: list[AlertView]
    gap_heatmap: Any | None
    gap_heatmap_note: str
    history: list[dict[str, Any]] = field(default_factory=list)
    chart_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def territory_summary(
    app: App, identity: Identity, territory: str | None = None, png: Path | None = None, *, today: date | None = None
) -> TerritorySummary:
    """Bookings vs target, forecast with interval and tracked accuracy, pipeline health, the
    deals to attack, resonance movers, open risk alerts, the call-gap heat map, and a chart.
    A manager sees their territory, an admin any, a rep their own book."""
    require_role(identity, Role.REP, Role.MANAGER, Role.ADMIN, action="see territory summaries")
    day = today or date.today()
    period = period_of(day)
    with app.db.session() as session:
        if identity.role is Role.REP:
            scope, title, territory_id = f"rep:{identity.handle}", identity.name, identity.territory_id
            account_filter = Account.owner_id == identity.user_id
        else:
            found = get_territory(session, identity, territory)
            scope, title, territory_id = f"territory:{found.name}", found.name + (f" {found.name_zh}" if found.name_zh else ""), found.id
            account_filter = Account.territory_id == found.id
        account_ids = list(session.scalars(select(Account.id).where(account_filter)))
        names = dict(session.execute(select(Account.id, Account.name).where(Account.id.in_(account_ids))).all())
        deals = [d for d in load_deals(session) if d.account_id in set(account_ids)]
        moves = scores_for_accounts(session, account_ids, day)
        owners = [identity.user_id] if identity.role is Role.REP else list(
            session.scalars(select(User.id).where(User.territory_id == territory_id))
        )
        has_calls = bool(session.scalar(select(func.count(Call.id)).where(Call.owner_id.in_(owners))))
    result = forecast(app, identity, scope, period.label, today=day)
    health = _health(deals, period, day, result.target, result.booked_to_date)
    history = []
    for back in range(HISTORY_QUARTERS, 0, -1):
        past = period.shift(-back)
        history.append({"period": past.label, "actual": round(bookings(deals, past), 2)})
    ranked = sorted(((names[a], s, c30) for a, (s, _c7, c30) in moves.items()), key=lambda m: m[2])
    rising = [ResonanceMove(n, s, c) for n, s, c in reversed(ranked[-3:]) if c > 0]
    falling = [ResonanceMove(n, s, c) for n, s, c in ranked[:3] if c < 0]
    evaluate(app, day)
    alerts = list_alerts(app, identity, scope if scope.startswith("territory") else None)
    heatmap, note = None, "No calls analysed yet: the gap heat map appears once calls are uploaded."
    if has_calls:
        heatmap, note = _heatmap(app, identity, scope)
    summary = TerritorySummary(
        scope=scope, title=title, period=period.label, currency=result.currency, booked=result.booked_to_date,
        target=result.target,
        attainment=round(result.booked_to_date / result.target, 4) if result.target else None,
        forecast=result, pipeline=health,
        top_opportunities=[asdict(p) for p in result.top_opportunities],
        resonance_rising=rising, resonance_falling=falling, risk_alerts=alerts,
        gap_heatmap=heatmap, gap_heatmap_note=note, history=history,
    )
    if png is not None:
        _chart(summary, Path(png))
        summary = TerritorySummary(**{**summary.__dict__, "chart_path": str(png)})
    return summary


def _heatmap(app: App, identity: Identity, scope: str) -> tuple[Any | None, str]:
    try:
        calls = app.calls
    except ImportError:
        return None, "Call analysis is not installed."
    if not hasattr(calls, "gap_heatmap"):
        return None, "Call analysis has no heat map yet."
    territory = scope.split(":", 1)[1] if scope.startswith("territory:") else None
    data = calls.gap_heatmap(identity, territory=territory)
    data = data.to_dict() if hasattr(data, "to_dict") else data
    return data, "Gap types found in analysed calls, per rep."


def _health(deals: list[Deal], period, day: date, target: float | None, booked: float) -> PipelineHealth:  # noqa: ANN001
    open_now = []
    for deal in deals:
        state = deal.state_at(day)
        if state is not None and state.stage in OPEN:
            open_now.append((deal, state))
    ageing: dict[str, list[int]] = {}
    by_stage: dict[str, float] = {s: 0.0 for s in OPEN}
    slipped = 0
    for deal, state in open_now:
        ageing.setdefault(state.stage, []).append((day - state.day).days)
        by_stage[state.stage] += state.amount
        first_close = deal.events[0].close
        slipped += state.close > first_close
    closing = sum(s.amount for _, s in open_now if s.close <= period.end)
    remaining = (target or 0.0) - booked
    return PipelineHealth(
        open_amount=round(sum(s.amount for _, s in open_now), 2),
        open_deals=len(open_now),
        closing_this_period=round(closing, 2),
        coverage=round(closing / remaining, 3) if target is not None and remaining > 0 else None,
        stage_ageing_days={k: round(sum(v) / len(v), 1) for k, v in ageing.items()},
        by_stage={k: round(v, 2) for k, v in by_stage.items()},
        slipped_share=round(slipped / len(open_now), 3) if open_now else 0.0,
    )


CJK_FONT_HINTS = ("WenQuanYi", "Noto Sans CJK", "Source Han", "Droid Sans Fallback")


def _cjk_font(font_manager) -> str | None:  # noqa: ANN001
    """A font with Chinese glyphs (fonts-wqy-microhei from `make system-deps`), registering it
    if matplotlib's font cache predates its installation."""
    for entry in font_manager.fontManager.ttflist:
        if any(hint in entry.name for hint in CJK_FONT_HINTS):
            return entry.name
    for path in font_manager.findSystemFonts():
        if any(key in path.lower() for key in ("wqy", "notosanscjk", "sourcehan", "droidsansfallback")):
            try:
                font_manager.fontManager.addfont(path)
                return font_manager.FontProperties(fname=path).get_name()
            except (OSError, RuntimeError):
                continue
    return None


def _chart(summary: TerritorySummary, path: Path) -> None:
    """Forecast vs actuals by quarter, and the open pipeline by stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    cjk = _cjk_font(font_manager)
    title = summary.title
    if cjk:
        plt.rcParams["font.family"] = [cjk, "DejaVu Sans"]
    else:
        # Without a CJK font Chinese glyphs would be boxes: keep the ASCII part of the title.
        title = "".join(ch for ch in title if ord(ch) < 128).strip() or summary.scope
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = [h["period"] for h in summary.history] + [summary.period]
    actuals = [h["actual"] for h in summary.history]
    left.bar(labels[:-1], actuals, color="#4C72B0", label="actual")
    f = summary.forecast
    left.bar([summary.period], [f.point], color="#DD8452", label=f"forecast ({f.interval_level:.0%} interval)")
    left.errorbar([summary.period], [f.point], yerr=[[f.point - f.lower], [f.upper - f.point]], color="black", capsize=6)
    if f.target:
        left.axhline(f.target, color="#55A868", linestyle="--", label="target")
    acc = f.accuracy
    left.set_title(f"{title}: bookings ({summary.currency})\nMAPE {acc.mape if acc.mape is not None else 'n/a'}  "
                   f"MASE {acc.mase if acc.mase is not None else 'n/a'} ({acc.source}, {acc.periods} periods)", fontsize=9)
    left.tick_params(axis="x", labelrotation=45, labelsize=8)
    left.legend(fontsize=7)
    stages = list(summary.pipeline.by_stage)
    right.barh(stages, [summary.pipeline.by_stage[s] for s in stages], color="#8172B3")
    right.set_title(f"Open pipeline by stage ({summary.currency}), coverage {summary.pipeline.coverage}", fontsize=9)
    right.invert_yaxis()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
