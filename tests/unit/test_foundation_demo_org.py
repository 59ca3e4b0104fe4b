"""The demo org is deterministic and realistic enough for forecasts and resonance to learn from."""

from collections import Counter
from datetime import timedelta
from itertools import pairwise

import yaml
from sqlalchemy import func, select

from bot.app import App
from bot.core.models import (
    Account,
    Opportunity,
    OpportunityStage,
    OpportunityStatus,
    Role,
    SignalEvent,
    StageChange,
    Target,
    Territory,
    User,
)
from bot.core.settings import Settings
from bot.demo.org import SIGNALS_FILE, build_org, quarter_of
from tests.conftest import DEMO_DAY


def _fingerprint(app: App) -> tuple:
    with app.db.session() as session:
        return (
            session.scalar(select(func.count()).select_from(Opportunity)),
            round(session.scalar(select(func.sum(Opportunity.amount))), 2),
            tuple(session.scalars(select(Account.name).order_by(Account.id))),
        )


def test_same_seed_same_org(org_app, tmp_path) -> None:
    other = App(Settings(_env_file=None, data_dir=tmp_path / "again", llm_provider="none"))
    with other.db.session() as session:
        build_org(session, org_app.settings.demo_seed, DEMO_DAY)
    assert _fingerprint(other) == _fingerprint(org_app)
    other.close()


def test_org_shape(org_app) -> None:
    with org_app.db.session() as session:
        roles = Counter(session.scalars(select(User.role)))
        assert roles == {Role.MANAGER: 3, Role.REP: 9, Role.TRAINER: 1, Role.ADMIN: 1}
        assert set(session.scalars(select(Territory.name_zh))) == {"华东", "华南", "北美"}
        assert session.scalar(select(func.count()).select_from(Account)) == 90
        assert 350 <= session.scalar(select(func.count()).select_from(Opportunity)) <= 460
        # Every rep reports to their territory's manager.
        for rep in session.scalars(select(User).where(User.role == Role.REP)):
            assert rep.manager.role is Role.MANAGER and rep.manager.territory_id == rep.territory_id


def test_deals_span_ten_quarters_with_wins_losses_and_open_pipeline(org_app) -> None:
    with org_app.db.session() as session:
        opps = session.scalars(select(Opportunity)).all()
        statuses = Counter(o.status for o in opps)
        assert statuses[OpportunityStatus.WON] > 80 and statuses[OpportunityStatus.LOST] > 150
        assert statuses[OpportunityStatus.OPEN] >= 20
        closed_quarters = {quarter_of(o.closed_date) for o in opps if o.closed_date}
        assert len(closed_quarters) >= 10
        assert all(o.closed_date <= DEMO_DAY for o in opps if o.closed_date)
        assert all(o.expected_close_date >= DEMO_DAY for o in opps if o.status is OpportunityStatus.OPEN)
        assert {o.loss_reason for o in opps if o.status is OpportunityStatus.LOST} >= {"price", "competitor"}


def test_stage_histories_are_consistent_and_show_slippage(org_app) -> None:
    slipped = 0
    with org_app.db.session() as session:
        for opp in session.scalars(select(Opportunity)):
            history = opp.stage_changes
            assert history[0].from_stage is None and history[0].to_stage is OpportunityStage.PROSPECTING
            assert all(a.to_stage == b.from_stage for a, b in pairwise(history))
            assert all(a.changed_on <= b.changed_on for a, b in pairwise(history))
            assert history[-1].to_stage == opp.stage
            if opp.status is not OpportunityStatus.OPEN:
                assert history[-1].changed_on == opp.closed_date
            if any(b.expected_close_date > a.expected_close_date for a, b in pairwise(history[:-1])):
                slipped += 1
        assert slipped >= 40
        assert session.scalar(select(func.count()).select_from(StageChange)) > 1200


def test_bookings_grow_and_fourth_quarters_are_strongest(org_app) -> None:
    with org_app.db.session() as session:
        created = Counter()
        for opp in session.scalars(select(Opportunity)):
            if opp.created_date >= DEMO_DAY - timedelta(days=3 * 365):
                created[(opp.created_date.month - 1) // 3 + 1] += 1
        assert created[4] > created[1]
        targets = session.scalars(select(Target).where(Target.scope_type == "territory")).all()
        assert {t.scope_key for t in targets if t.period == "2026-Q4"} == {"East China", "South China", "North America"}
        rep_targets = session.scalar(select(func.count()).select_from(Target).where(Target.scope_type == "rep"))
        assert rep_targets == 9 * 11


def test_signals_cover_the_resonance_dimensions_and_the_risk_pattern(org_app) -> None:
    dimensions = yaml.safe_load(SIGNALS_FILE.read_text(encoding="utf-8"))["dimensions"]
    assert len(dimensions) == 37
    with org_app.db.session() as session:
        seen = set(session.scalars(select(SignalEvent.signal_type).distinct()))
        assert len(seen & set(dimensions)) >= 35
        promotions = session.scalars(select(SignalEvent).where(SignalEvent.signal_type == "competitor_promotion")).all()
        by_account = Counter(e.account_id for e in promotions)
        assert len(by_account) >= 2 and all(n == 3 for n in by_account.values())
        recent = session.scalar(
            select(func.count()).select_from(SignalEvent).where(SignalEvent.occurred_at >= DEMO_DAY - timedelta(days=7))
        )
        assert recent > 50
