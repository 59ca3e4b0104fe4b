"""Account facts and pipelines from the CRM tables (customer-history text is the KB's job).

A pipeline's focus list is the forecast engine's own per-deal expectation for the quarter
(`insights._engine.pipeline_estimate`), so "what to work first" agrees with the forecast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import access
from bot.core.identity import Identity
from bot.core.models import (
    OPEN_STAGES,
    Account,
    Contact,
    Opportunity,
    OpportunityStatus,
    Role,
    SignalEvent,
    StageChange,
    Target,
    Territory,
    User,
)
from insights._data import load_deals
from insights._engine import learn_dynamics, pipeline_estimate
from insights.periods import Period, period_of
from insights.risk import AlertView, list_alerts

__all__ = [
    "AccountOverview",
    "ContactLine",
    "FocusDeal",
    "OpportunityLine",
    "PipelineView",
    "SignalLine",
    "StageMove",
    "StageTotal",
    "account_overview",
    "focus_deals",
    "my_pipeline",
]

RECENT_STAGE_MOVES = 8
LATEST_SIGNALS = 10
FOCUS_DEALS = 10


@dataclass(frozen=True)
class OpportunityLine:
    id: int
    name: str
    account: str
    owner: str
    amount: float
    currency: str
    stage: str
    expected_close: str
    days_in_stage: int
    competitor: str | None


@dataclass(frozen=True)
class ContactLine:
    name: str
    title: str | None
    buying_role: str | None
    email: str | None


@dataclass(frozen=True)
class StageMove:
    opportunity: str
    from_stage: str | None
    to_stage: str
    on: str
    amount: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "opportunity": self.opportunity,
            "from": self.from_stage,
            "to": self.to_stage,
            "on": self.on,
            "amount": self.amount,
        }


@dataclass(frozen=True)
class SignalLine:
    signal: str
    value: float
    at: str


@dataclass(frozen=True)
class AccountOverview:
    id: int
    name: str
    name_en: str | None
    industry: str
    segment: str
    employees: int | None
    city: str | None
    territory: str
    owner: str
    key_account: bool
    contacts: list[ContactLine]
    open_opportunities: list[OpportunityLine]
    recent_stage_changes: list[StageMove]
    latest_signals: list[SignalLine]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["recent_stage_changes"] = [move.to_dict() for move in self.recent_stage_changes]
        return data


@dataclass(frozen=True)
class StageTotal:
    stage: str
    count: int
    amount: float


@dataclass(frozen=True)
class FocusDeal:
    """An open deal ranked by what it is expected to book this quarter: amount x the learned
    win rate of its stage x the learned chance that a win lands inside the quarter (the
    forecast's per-deal expectation), with the open risk alerts of its account."""

    id: int
    name: str
    account: str
    amount: float
    currency: str
    stage: str
    expected_close: str
    win_probability: float
    in_period_probability: float
    expected_value: float
    risks: list[AlertView] = field(default_factory=list)


@dataclass(frozen=True)
class PipelineView:
    owner: str
    period: str
    currency: str
    by_stage: list[StageTotal]
    open_total: float
    closing_this_period: float
    target: float | None
    coverage: float | None  # open pipeline closing this period / remaining target
    opportunities: list[OpportunityLine] = field(default_factory=list)
    focus: list[FocusDeal] = field(default_factory=list)  # highest expected value this quarter first

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _line(session: Session, opp: Opportunity, account: Account, today: date) -> OpportunityLine:
    last = session.scalar(
        select(StageChange.changed_on)
        .where(StageChange.opportunity_id == opp.id)
        .order_by(StageChange.changed_at.desc())
        .limit(1)
    )
    owner = session.get(User, opp.owner_id)
    return OpportunityLine(
        id=opp.id,
        name=opp.name,
        account=account.name,
        owner=owner.handle if owner else "",
        amount=opp.amount,
        currency=opp.currency,
        stage=opp.stage.value,
        expected_close=opp.expected_close_date.isoformat(),
        days_in_stage=(today - last).days if last else (today - opp.created_date).days,
        competitor=opp.competitor,
    )


def account_overview(
    session: Session, identity: Identity, account: str, *, today: date | None = None
) -> AccountOverview:
    """One account the caller may see: facts, contacts with buying roles, open opportunities,
    the last stage moves and the latest buyer signals."""
    access.require_role(identity, Role.REP, Role.MANAGER, Role.ADMIN, action="see accounts")
    day = today or date.today()
    found = access.find_account(session, identity, account)
    territory = session.get(Territory, found.territory_id)
    owner = session.get(User, found.owner_id)
    contacts = session.scalars(select(Contact).where(Contact.account_id == found.id).order_by(Contact.id))
    visible_opportunities = access.opportunities(identity).clause(Opportunity)
    opps = session.scalars(
        select(Opportunity)
        .where(Opportunity.account_id == found.id, Opportunity.status == OpportunityStatus.OPEN, visible_opportunities)
        .order_by(Opportunity.expected_close_date)
    ).all()
    changes = session.execute(
        select(StageChange, Opportunity.name)
        .join(Opportunity, StageChange.opportunity_id == Opportunity.id)
        .where(Opportunity.account_id == found.id, visible_opportunities)
        .order_by(StageChange.changed_at.desc())
        .limit(RECENT_STAGE_MOVES)
    ).all()
    signals = session.scalars(
        select(SignalEvent)
        .where(
            SignalEvent.account_id == found.id, SignalEvent.occurred_at <= datetime.combine(day, time.max, tzinfo=UTC)
        )
        .order_by(SignalEvent.occurred_at.desc())
        .limit(LATEST_SIGNALS)
    ).all()
    return AccountOverview(
        id=found.id,
        name=found.name,
        name_en=found.name_en,
        industry=found.industry,
        segment=found.segment,
        employees=found.employees,
        city=found.city,
        territory=territory.name if territory else "",
        owner=owner.name if owner else "",
        key_account=found.is_key_account,
        contacts=[ContactLine(c.name, c.title, c.buying_role, c.email) for c in contacts],
        open_opportunities=[_line(session, o, found, day) for o in opps],
        recent_stage_changes=[
            StageMove(
                opportunity=name,
                from_stage=c.from_stage.value if c.from_stage else None,
                to_stage=c.to_stage.value,
                on=c.changed_on.isoformat(),
                amount=c.amount,
            )
            for c, name in changes
        ],
        latest_signals=[SignalLine(s.signal_type, s.value, s.occurred_at.isoformat()) for s in signals],
    )


def _own_target(session: Session, identity: Identity, period_label: str) -> Target | None:
    """The caller's quota for the period: a rep's own, a manager's territory's (none without one)."""
    if identity.role is Role.REP:
        scope_type, key = "rep", identity.handle
    elif identity.role is Role.MANAGER and identity.territory_id is not None:
        territory = session.get(Territory, identity.territory_id)
        if territory is None:
            return None
        scope_type, key = "territory", territory.name
    else:
        return None
    return session.scalar(
        select(Target).where(Target.scope_type == scope_type, Target.scope_key == key, Target.period == period_label)
    )


def focus_deals(
    session: Session, identity: Identity, lines: list[OpportunityLine], period: Period, today: date
) -> list[FocusDeal]:
    """The open deals of `lines` (already filtered to what the caller may see) in the forecast
    engine's order of expected bookings in `period`, the first FOCUS_DEALS of them."""
    if not lines:
        return []
    by_id = {line.id: line for line in lines}
    deals = load_deals(session)
    # Stage rates are learned from every closed deal, as the forecast learns them; only the
    # ranked deals are the caller's.
    estimate = pipeline_estimate(
        [d for d in deals if d.id in by_id], learn_dynamics(deals, period, today), period, today, 0.0
    )
    risks: dict[str, list[AlertView]] = {}
    for alert in list_alerts(session, identity):
        if alert.account is not None:
            risks.setdefault(alert.account, []).append(alert)
    return [
        FocusDeal(
            id=c.deal.id,
            name=c.deal.name,
            account=c.deal.account,
            amount=round(c.amount, 2),
            currency=by_id[c.deal.id].currency,
            stage=c.stage,
            expected_close=c.close.isoformat(),
            win_probability=round(c.win_probability, 3),
            in_period_probability=round(c.in_period_probability, 3),
            expected_value=round(c.expected, 2),
            risks=risks.get(c.deal.account, []),
        )
        for c in estimate.contributions[:FOCUS_DEALS]
    ]


def my_pipeline(session: Session, identity: Identity, *, today: date | None = None) -> PipelineView:
    """The caller's open opportunities by stage (a manager: their territory's), with coverage
    of the rest of this quarter's target and the deals to focus on (`focus_deals`)."""
    access.require_role(identity, Role.REP, Role.MANAGER, Role.ADMIN, action="see a pipeline")
    day = today or date.today()
    period = period_of(day)
    visible = access.opportunities(identity).clause(Opportunity)
    rows = session.execute(
        select(Opportunity, Account)
        .join(Account, Opportunity.account_id == Account.id)
        .where(Opportunity.status == OpportunityStatus.OPEN, visible)
        .order_by(Opportunity.expected_close_date)
    ).all()
    lines = [_line(session, o, a, day) for o, a in rows]
    target_row = _own_target(session, identity, period.label)
    won = session.scalars(
        select(Opportunity.amount).where(
            Opportunity.status == OpportunityStatus.WON,
            visible,
            Opportunity.closed_date >= period.start,
            Opportunity.closed_date <= day,
        )
    ).all()
    currencies = {line.currency for line in lines}
    by_stage = [
        StageTotal(
            s.value,
            sum(1 for line in lines if line.stage == s.value),
            sum(line.amount for line in lines if line.stage == s.value),
        )
        for s in OPEN_STAGES
    ]
    closing = sum(line.amount for line in lines if line.expected_close <= period.end.isoformat())
    target = target_row.amount if target_row else None
    remaining = max((target or 0.0) - sum(won), 0.0)
    return PipelineView(
        owner=identity.handle,
        period=period.label,
        currency=",".join(sorted(currencies)) or (target_row.currency if target_row else ""),
        by_stage=by_stage,
        open_total=sum(line.amount for line in lines),
        closing_this_period=closing,
        target=target,
        coverage=round(closing / remaining, 3) if target is not None and remaining > 0 else None,
        opportunities=lines,
        focus=focus_deals(session, identity, lines, period, day),
    )
