"""Account facts and pipelines from the CRM tables (customer-history text is the KB's job)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any

from sqlalchemy import select

from bot.app import App
from bot.core.identity import Identity
from bot.core.access import account_clause, find_account, require_role
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
from insights.periods import period_of

__all__ = ["account_overview", "my_pipeline", "AccountOverview", "PipelineView", "OpportunityLine", "StageTotal"]


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
    contacts: list[dict[str, Any]]
    open_opportunities: list[OpportunityLine]
    recent_stage_changes: list[dict[str, Any]]
    latest_signals: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StageTotal:
    stage: str
    count: int
    amount: float


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _line(session, opp: Opportunity, account: Account, today: date) -> OpportunityLine:  # noqa: ANN001
    last = session.scalar(
        select(StageChange.changed_on).where(StageChange.opportunity_id == opp.id).order_by(StageChange.changed_at.desc()).limit(1)
    )
    owner = session.get(User, opp.owner_id)
    return OpportunityLine(
        id=opp.id, name=opp.name, account=account.name, owner=owner.handle if owner else "",
        amount=opp.amount, currency=opp.currency, stage=opp.stage.value,
        expected_close=opp.expected_close_date.isoformat(),
        days_in_stage=(today - last).days if last else (today - opp.created_date).days,
        competitor=opp.competitor,
    )


def account_overview(app: App, identity: Identity, account: str, *, today: date | None = None) -> AccountOverview:
    """One account the caller may see: facts, contacts with buying roles, open opportunities,
    the last stage moves and the latest buyer signals."""
    require_role(identity, Role.REP, Role.MANAGER, Role.ADMIN, action="see accounts")
    day = today or date.today()
    with app.db.session() as session:
        found = find_account(session, identity, account)
        territory = session.get(Territory, found.territory_id)
        owner = session.get(User, found.owner_id)
        contacts = session.scalars(select(Contact).where(Contact.account_id == found.id).order_by(Contact.id))
        opps = session.scalars(
            select(Opportunity).where(Opportunity.account_id == found.id, Opportunity.status == OpportunityStatus.OPEN)
            .order_by(Opportunity.expected_close_date)
        ).all()
        changes = session.execute(
            select(StageChange, Opportunity.name).join(Opportunity, StageChange.opportunity_id == Opportunity.id)
            .where(Opportunity.account_id == found.id).order_by(StageChange.changed_at.desc()).limit(8)
        ).all()
        signals = session.scalars(
            select(SignalEvent).where(SignalEvent.account_id == found.id,
                                      SignalEvent.occurred_at <= datetime.combine(day, time.max, tzinfo=timezone.utc))
            .order_by(SignalEvent.occurred_at.desc()).limit(10)
        ).all()
        return AccountOverview(
            id=found.id, name=found.name, name_en=found.name_en, industry=found.industry, segment=found.segment,
            employees=found.employees, city=found.city, territory=territory.name if territory else "",
            owner=owner.name if owner else "", key_account=found.is_key_account,
            contacts=[{"name": c.name, "title": c.title, "buying_role": c.buying_role, "email": c.email} for c in contacts],
            open_opportunities=[_line(session, o, found, day) for o in opps],
            recent_stage_changes=[
                {"opportunity": name, "from": c.from_stage.value if c.from_stage else None, "to": c.to_stage.value,
                 "on": c.changed_on.isoformat(), "amount": c.amount}
                for c, name in changes
            ],
            latest_signals=[{"signal": s.signal_type, "value": s.value, "at": s.occurred_at.isoformat()} for s in signals],
        )


def my_pipeline(app: App, identity: Identity, *, today: date | None = None) -> PipelineView:
    """The caller's open opportunities by stage (a manager: their territory's), with coverage
    of the rest of this quarter's target."""
    require_role(identity, Role.REP, Role.MANAGER, Role.ADMIN, action="see a pipeline")
    day = today or date.today()
    period = period_of(day)
    with app.db.session() as session:
        rows = session.execute(
            select(Opportunity, Account).join(Account, Opportunity.account_id == Account.id)
            .where(Opportunity.status == OpportunityStatus.OPEN, account_clause(identity))
            .order_by(Opportunity.expected_close_date)
        ).all()
        lines = [_line(session, o, a, day) for o, a in rows]
        if identity.role is Role.REP:
            scope_type, key = "rep", identity.handle
        elif identity.role is Role.MANAGER and identity.territory_id:
            scope_type, key = "territory", session.get(Territory, identity.territory_id).name
        else:
            scope_type, key = "", ""
        target_row = session.scalar(select(Target).where(Target.scope_type == scope_type, Target.scope_key == key, Target.period == period.label)) if key else None
        won = session.execute(
            select(Opportunity.amount).join(Account, Opportunity.account_id == Account.id)
            .where(Opportunity.status == OpportunityStatus.WON, account_clause(identity),
                   Opportunity.closed_date >= period.start, Opportunity.closed_date <= day)
        ).scalars().all()
    currencies = {line.currency for line in lines}
    by_stage = [
        StageTotal(s.value, sum(1 for l in lines if l.stage == s.value), sum(l.amount for l in lines if l.stage == s.value))
        for s in OPEN_STAGES
    ]
    closing = sum(l.amount for l in lines if l.expected_close <= period.end.isoformat())
    target = target_row.amount if target_row else None
    remaining = max((target or 0.0) - sum(won), 0.0)
    return PipelineView(
        owner=identity.handle,
        period=period.label,
        currency=",".join(sorted(currencies)) or (target_row.currency if target_row else ""),
        by_stage=by_stage,
        open_total=sum(l.amount for l in lines),
        closing_this_period=closing,
        target=target,
        coverage=round(closing / remaining, 3) if target is not None and remaining > 0 else None,
        opportunities=lines,
    )
