"""Risk rules (parsing, the 3-consecutive-days pattern, no duplicates) and resonance scores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.core.errors import ConfigurationError, PermissionDenied
from bot.core.models import Account, RiskAlert, SignalEvent, User
from insights.resonance import load_dimensions, resonance, score_signals
from insights.risk import evaluate, list_alerts, load_rules
from tests.conftest import DEMO_DAY
from tests.unit.insights_helpers import in_session

TODAY = date(2026, 11, 23)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 10, tzinfo=UTC)


def _quiet_account(app: App, name: str) -> int:
    """A demo account with its operational signals removed, to script its own."""
    with app.db.session() as session:
        account = session.scalar(select(Account).where(Account.name == name))
        for event in session.scalars(select(SignalEvent).where(SignalEvent.account_id == account.id)):
            session.delete(event)
        return account.id


def _pattern(app: App, account_id: int, promo_days: int) -> None:
    with app.db.session() as session:
        for back in range(promo_days, 0, -1):
            session.add(
                SignalEvent(
                    account_id=account_id,
                    signal_type="competitor_promotion",
                    value=1,
                    occurred_at=_at(TODAY - timedelta(days=back)),
                )
            )
        session.add(
            SignalEvent(
                account_id=account_id,
                signal_type="inventory_turnover_days",
                value=58,
                occurred_at=_at(TODAY - timedelta(days=2)),
            )
        )
        session.add(
            SignalEvent(
                account_id=account_id,
                signal_type="visit_completion_rate",
                value=0.5,
                occurred_at=_at(TODAY - timedelta(days=2)),
            )
        )


def test_rules_file_parses(tmp_path: Path) -> None:
    rules = {r.id: r for r in load_rules()}
    rule = rules["competitor_push_slow_stock"]
    assert rule.severity == "high" and len(rule.conditions) == 3
    assert rule.conditions[0].kind == "consecutive_days" and rule.conditions[0].days == 3
    assert rule.remedies and all("zh" in r and "en" in r for r in rule.remedies)
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - id: x\n    conditions:\n      - {signal: a, latest: {approx: 3}}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="comparator"):
        load_rules(bad)


def test_demo_pattern_fires_high_alerts_once(org_app) -> None:
    created = in_session(org_app, evaluate, DEMO_DAY)
    high = [a for a in created if a.rule_id == "competitor_push_slow_stock"]
    assert len(high) == 3 and all(a.severity == "high" and a.remedies for a in high)
    assert "3 days running" in high[0].message
    assert in_session(org_app, evaluate, DEMO_DAY) == []
    with org_app.db.session() as session:
        assert len(session.scalars(select(RiskAlert)).all()) == len(created)


def test_three_consecutive_days_fire_but_two_do_not(org_app) -> None:
    with org_app.db.session() as session:
        names = list(session.scalars(select(Account.name).order_by(Account.id).limit(2)))
    two, three = _quiet_account(org_app, names[0]), _quiet_account(org_app, names[1])
    _pattern(org_app, two, 2)
    _pattern(org_app, three, 3)
    fired = {a.account for a in in_session(org_app, evaluate, TODAY) if a.rule_id == "competitor_push_slow_stock"}
    assert names[1] in fired and names[0] not in fired


def test_alerts_are_listed_per_scope_and_permission(org_app, identity_of) -> None:
    in_session(org_app, evaluate, DEMO_DAY)
    admin_view = in_session(org_app, list_alerts, identity_of("ops.admin"))
    east = in_session(org_app, list_alerts, identity_of("wang.fang"))
    assert east and {a.territory for a in east} == {"East China"}
    assert len(admin_view) > len(east)
    assert in_session(org_app, list_alerts, identity_of("sarah.mitchell"), "territory:North America")
    with pytest.raises(PermissionDenied):
        in_session(org_app, list_alerts, identity_of("wang.fang"), "territory:North America")
    with org_app.db.session() as session:
        owner_ids = {session.scalar(select(Account.owner_id).where(Account.name == a.account)) for a in east}
        owners = set(session.scalars(select(User.handle).where(User.id.in_(owner_ids))))
    owner = sorted(owners)[0]
    mine = in_session(org_app, list_alerts, identity_of(owner))
    assert mine and all(a.territory == "East China" for a in mine)
    assert east[0].message.startswith(("竞品", "库存"))  # a Chinese-speaking manager reads Chinese


def test_alerts_of_a_rep_need_the_rep_in_the_callers_team(org_app, identity_of) -> None:
    in_session(org_app, evaluate, DEMO_DAY)
    with org_app.db.session() as session:
        east = list_alerts(session, identity_of("wang.fang"))
        owner_of = {a.account: session.scalar(select(Account.owner_id).where(Account.name == a.account)) for a in east}
        handles = dict(session.execute(select(User.id, User.handle)).tuples().all())
        owner = handles[next(iter(owner_of.values()))]
        theirs = list_alerts(session, identity_of("wang.fang"), f"rep:{owner}")
        assert theirs and {handles[owner_of[a.account]] for a in theirs} == {owner}
        with pytest.raises(PermissionDenied, match=r"jason\.reed"):
            list_alerts(session, identity_of("wang.fang"), "rep:jason.reed")
        with pytest.raises(PermissionDenied):
            list_alerts(session, identity_of("li.wei"), "rep:zhang.min")


def test_resonance_decays_with_half_life() -> None:
    dims = load_dimensions()
    now = datetime(2026, 11, 23, tzinfo=UTC)
    fresh = score_signals([("pilot_inquiry", 1.0, now)], now)
    half_life = dims.half_lives["pilot_inquiry"]
    aged = score_signals([("pilot_inquiry", 1.0, now - timedelta(days=half_life))], now)
    assert aged.mass_by_signal["pilot_inquiry"] == pytest.approx(fresh.mass_by_signal["pilot_inquiry"] / 2)
    assert 0 < aged.score < fresh.score <= 100
    assert score_signals([("pilot_inquiry", 1.0, now + timedelta(days=1))], now).score == 0.0
    assert len(dims.weights) == 37


def _signals(app: App, account_id: int, spec: list[tuple[str, int]]) -> None:
    with app.db.session() as session:
        for event in session.scalars(select(SignalEvent).where(SignalEvent.account_id == account_id)):
            session.delete(event)
        for signal, days_ago in spec:
            session.add(
                SignalEvent(
                    account_id=account_id,
                    signal_type=signal,
                    value=1.0,
                    occurred_at=_at(TODAY - timedelta(days=days_ago)),
                )
            )


def test_resonance_buyer_type_change_and_next_actions(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        account = session.scalar(select(Account).where(Account.territory.has(name="East China")).order_by(Account.id))
        account_id, name = account.id, account.name
    ecosystem = [("partner_referral", d) for d in (0, 1, 2, 3)] + [("joint_solution_inquiry", d) for d in (0, 1, 2)]
    ecosystem += [("isv_partner_page_visit", d) for d in (0, 1, 2, 4, 5)] + [("pricing_page_visit", 40)]
    _signals(org_app, account_id, ecosystem)
    result = in_session(org_app, resonance, identity_of("wang.fang"), name, today=TODAY)
    assert result.buyer_type == "ecosystem" and result.buyer_type_zh == "生态协同型"
    assert result.top_signals[0].signal in {"partner_referral", "joint_solution_inquiry", "isv_partner_page_visit"}
    assert result.change_7d > 50 and result.change_30d > 50  # all of it arrived this week
    assert result.triggered and any("ISV" in a.en for a in result.next_actions)
    compliance = [("mlps_level3_inquiry", d) for d in range(6)] + [("gdpr_dpa_request", d) for d in range(5)]
    _signals(org_app, account_id, compliance)
    result = in_session(org_app, resonance, identity_of("wang.fang"), name, today=TODAY)
    assert result.buyer_type == "compliance"
    assert any("等保三级" in a.en + a.zh for a in result.next_actions)
    _signals(org_app, account_id, [("newsletter_click", 1)])
    quiet = in_session(org_app, resonance, identity_of("wang.fang"), name, today=TODAY)
    assert quiet.score < 10 and not quiet.triggered and quiet.next_actions == []


def test_resonance_respects_account_permissions(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        other = session.scalar(select(Account).where(Account.territory.has(name="North America")).order_by(Account.id))
        name = other.name
    with pytest.raises(PermissionDenied):
        in_session(org_app, resonance, identity_of("li.wei"), name, today=TODAY)
    with pytest.raises(PermissionDenied):
        in_session(org_app, resonance, identity_of("zhao.lin"), name, today=TODAY)
    assert in_session(org_app, resonance, identity_of("sarah.mitchell"), name, today=TODAY).account == name
