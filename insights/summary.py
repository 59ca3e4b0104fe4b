"""Territory summaries for managers (a rep gets their own book), and their PNG chart.

`territory_summary` reads and writes (forecast snapshot, risk alerts) in the caller's session;
`render_summary_chart` draws the chart afterwards, once the session is closed: drawing takes
about a second, and inside the transaction it would hold SQLite's write lock that long.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from bot.core import access
from bot.core.identity import Identity
from bot.core.models import Account, Call, Role
from insights._data import OPEN, Deal, load_deals
from insights._engine import bookings
from insights.forecast import ForecastResult, OpportunityPick, forecast
from insights.periods import Period, period_of
from insights.resonance import scores_for_accounts
from insights.risk import AlertView, evaluate, list_alerts
from transcription.heatmap import GapHeatmap, cjk_font, gap_heatmap

__all__ = [
    "PeriodActual",
    "PipelineHealth",
    "ResonanceMove",
    "TerritorySummary",
    "render_summary_chart",
    "territory_summary",
]

HISTORY_QUARTERS = 6
NO_CALLS_NOTE = "No calls analysed yet: the gap heat map appears once calls are uploaded."
HEATMAP_NOTE = "Gap types found in analysed calls, per rep."


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
class PeriodActual:
    period: str
    actual: float


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
    top_opportunities: list[OpportunityPick]
    resonance_rising: list[ResonanceMove]
    resonance_falling: list[ResonanceMove]
    risk_alerts: list[AlertView]
    gap_heatmap: GapHeatmap | None
    gap_heatmap_note: str
    history: list[PeriodActual] = field(default_factory=list)
    chart_path: str | None = None  # set by the caller once it has drawn the chart

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gap_heatmap"] = self.gap_heatmap.to_dict() if self.gap_heatmap is not None else None
        return data


def territory_summary(
    session: Session, identity: Identity, territory: str | None = None, *, today: date | None = None
) -> TerritorySummary:
    """Bookings vs target, forecast with interval and tracked accuracy, pipeline health, the
    deals to attack, resonance movers, open risk alerts and the call-gap heat map. A manager
    sees their territory, an admin any, a rep their own book. Runs the risk rules and
    snapshots the forecast in `session`; draw the chart with `render_summary_chart` after it."""
    access.require_role(identity, Role.REP, Role.MANAGER, Role.ADMIN, action="see territory summaries")
    day = today or date.today()
    period = period_of(day)
    visible_accounts = access.accounts(identity).clause(Account)
    visible_calls = access.calls(identity).clause(Call)
    heatmap_territory: str | None = None
    if identity.role is Role.REP:
        scope, title = f"rep:{identity.handle}", identity.name
        in_scope, calls_in_scope = visible_accounts, visible_calls
    else:
        found = access.find_territory(session, identity, territory)
        scope, heatmap_territory = f"territory:{found.name}", found.name
        title = found.name + (f" {found.name_zh}" if found.name_zh else "")
        in_scope = and_(visible_accounts, Account.territory_id == found.id)
        calls_in_scope = and_(visible_calls, Call.territory_id == found.id)
    names = dict(session.execute(select(Account.id, Account.name).where(in_scope)).tuples().all())
    deals = [d for d in load_deals(session) if d.account_id in names]
    moves = scores_for_accounts(session, list(names), day)
    has_calls = bool(session.scalar(select(exists().where(calls_in_scope))))
    result = forecast(session, identity, scope, period.label, today=day)
    health = _health(deals, period, day, result.target, result.booked_to_date)
    history = [
        PeriodActual(past.label, round(bookings(deals, past), 2))
        for past in (period.shift(-back) for back in range(HISTORY_QUARTERS, 0, -1))
    ]
    ranked = sorted(((names[a], s, c30) for a, (s, _c7, c30) in moves.items()), key=lambda m: m[2])
    rising = [ResonanceMove(n, s, c) for n, s, c in reversed(ranked[-3:]) if c > 0]
    falling = [ResonanceMove(n, s, c) for n, s, c in ranked[:3] if c < 0]
    evaluate(session, day)
    alerts = list_alerts(session, identity, scope if heatmap_territory is not None else None)
    heatmap = gap_heatmap(session, identity, territory=heatmap_territory) if has_calls else None
    return TerritorySummary(
        scope=scope,
        title=title,
        period=period.label,
        currency=result.currency,
        booked=result.booked_to_date,
        target=result.target,
        attainment=round(result.booked_to_date / result.target, 4) if result.target else None,
        forecast=result,
        pipeline=health,
        top_opportunities=list(result.top_opportunities),
        resonance_rising=rising,
        resonance_falling=falling,
        risk_alerts=alerts,
        gap_heatmap=heatmap,
        gap_heatmap_note=HEATMAP_NOTE if heatmap is not None else NO_CALLS_NOTE,
        history=history,
    )


def _health(deals: list[Deal], period: Period, day: date, target: float | None, booked: float) -> PipelineHealth:
    open_now = []
    for deal in deals:
        state = deal.state_at(day)
        if state is not None and state.stage in OPEN:
            open_now.append((deal, state))
    ageing: dict[str, list[int]] = {}
    by_stage: dict[str, float] = dict.fromkeys(OPEN, 0.0)
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


def render_summary_chart(summary: TerritorySummary, path: Path) -> Path:
    """Draw the summary's chart to `path` (PNG): bookings per quarter with the forecast, its
    interval and the target, and the open pipeline by stage. No database needed: call it after
    the session that made the summary is closed. Returns `path`."""
    # A Figure of its own, not pyplot: no global state, so threads may draw side by side.
    from matplotlib.figure import Figure

    cjk = cjk_font()
    title = summary.title
    if not cjk:
        # Without a CJK font Chinese glyphs would be boxes: keep the ASCII part of the title.
        title = "".join(ch for ch in title if ord(ch) < 128).strip() or summary.scope
    title_font = [cjk, "DejaVu Sans"] if cjk else ["DejaVu Sans"]
    figure = Figure(figsize=(11, 4.2))
    left, right = figure.subplots(1, 2)
    labels = [h.period for h in summary.history] + [summary.period]
    actuals = [h.actual for h in summary.history]
    left.bar(labels[:-1], actuals, color="#4C72B0", label="actual")
    f = summary.forecast
    left.bar([summary.period], [f.point], color="#DD8452", label=f"forecast ({f.interval_level:.0%} interval)")
    left.errorbar(
        [summary.period], [f.point], yerr=[[f.point - f.lower], [f.upper - f.point]], color="black", capsize=6
    )
    if f.target:
        left.axhline(f.target, color="#55A868", linestyle="--", label="target")
    acc = f.accuracy
    left.set_title(
        f"{title}: bookings ({summary.currency})\n"
        f"MAPE {acc.mape if acc.mape is not None else 'n/a'}  "
        f"MASE {acc.mase if acc.mase is not None else 'n/a'} ({acc.source}, {acc.periods} periods)",
        fontsize=9,
        fontfamily=title_font,
    )
    left.tick_params(axis="x", labelrotation=45, labelsize=8)
    left.legend(fontsize=7)
    stages = list(summary.pipeline.by_stage)
    right.barh(stages, [summary.pipeline.by_stage[s] for s in stages], color="#8172B3")
    right.set_title(f"Open pipeline by stage ({summary.currency}), coverage {summary.pipeline.coverage}", fontsize=9)
    right.invert_yaxis()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path
