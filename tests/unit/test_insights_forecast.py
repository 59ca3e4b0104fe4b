"""Forecasts on the demo org: result contract, snapshots and actuals, what-if, permissions."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from bot.app import App
from bot.core.errors import InvalidInput, NotFound, PermissionDenied
from bot.core.models import Actual, ForecastSnapshot, Opportunity, Role, Territory, User
from bot.core.settings import Settings
from bot.demo.org import build_org
from insights.forecast import WHAT_IF_PARAMETERS, forecast, record_actuals
from tests.conftest import DEMO_DAY
from tests.unit.insights_helpers import in_session


def test_territory_forecast_states_interval_target_accuracy_and_top_deals(org_app, identity_of) -> None:
    result = in_session(org_app, forecast, identity_of("wang.fang"), "territory:East China", today=DEMO_DAY)
    assert result.period == "2026-Q4" and result.currency == "CNY"
    assert result.lower <= result.point <= result.upper
    assert result.booked_to_date <= result.lower
    assert result.target is not None and result.gap_to_target == pytest.approx(result.target - result.point, abs=0.01)
    assert result.accuracy.periods > 0 and result.accuracy.mape is not None and result.accuracy.mase is not None
    assert result.accuracy.source == "backtest"
    method = result.method
    assert set(result.to_dict()["method"]) >= {"pipeline_weighted", "baseline", "learned_win_rate", "learned_slippage"}
    assert method.learned_win_rate["negotiation"] > method.learned_win_rate["prospecting"]
    assert 1 <= len(result.top_opportunities) <= 3
    assert all(pick.why for pick in result.top_opportunities)
    values = [pick.expected_value for pick in result.top_opportunities]
    assert values == sorted(values, reverse=True)
    data = result.to_dict()
    assert data["accuracy"]["mase"] == result.accuracy.mase


def test_every_forecast_is_snapshotted_and_actuals_recorded_when_the_period_closes(org_app, identity_of) -> None:
    admin = identity_of("ops.admin")
    early = in_session(org_app, forecast, admin, "territory:North America", "2026-Q3", today=date(2026, 6, 30))
    with org_app.db.session() as session:
        snap = session.get(ForecastSnapshot, early.snapshot_id)
        assert (snap.scope_key, snap.period, snap.as_of, snap.method) == (
            "North America",
            "2026-Q3",
            date(2026, 6, 30),
            "copilot",
        )
        assert session.scalars(select(Actual)).all() == []
    assert in_session(org_app, record_actuals, DEMO_DAY) == 1
    assert in_session(org_app, record_actuals, DEMO_DAY) == 0
    closed = in_session(org_app, forecast, admin, "territory:North America", "2026-Q3", today=DEMO_DAY)
    with org_app.db.session() as session:
        actual = session.scalar(select(Actual).where(Actual.period == "2026-Q3"))
    assert actual.amount == pytest.approx(closed.point)  # a closed period's forecast is its actual
    now = in_session(org_app, forecast, admin, "territory:North America", today=DEMO_DAY)
    assert now.accuracy.source == "tracked" and now.accuracy.periods == 1
    expected_mape = abs(actual.amount - early.point) / actual.amount
    assert now.accuracy.mape == pytest.approx(expected_mape, abs=1e-3)


def test_what_if_moves_the_forecast_the_right_way(org_app, identity_of) -> None:
    manager = identity_of("wang.fang")
    base = in_session(org_app, forecast, manager, "territory:East China", today=DEMO_DAY).point

    def scenario(**values: float) -> float:
        return in_session(org_app, forecast, manager, "territory:East China", what_if=values, today=DEMO_DAY).point

    assert scenario(win_rate_shift=0.1) > base
    assert scenario(deal_size_shift=0.2) > base
    assert scenario(discount_rate=0.2) < base
    assert scenario(big_account_delay=0.8) <= base
    assert scenario(cycle_stretch=0.5) < base
    result = in_session(
        org_app, forecast, manager, "territory:East China", what_if={"win_rate_shift": 0.1}, today=DEMO_DAY
    )
    assert result.what_if == {"win_rate_shift": 0.1}
    with org_app.db.session() as session:
        assert session.get(ForecastSnapshot, result.snapshot_id).method == "copilot_what_if"


def test_what_if_parameters_are_described_and_validated(org_app, identity_of) -> None:
    for name in ("big_account_delay", "new_channel_ramp", "win_rate_shift", "deal_size_shift"):
        parameter = WHAT_IF_PARAMETERS[name]
        assert parameter.description_en and parameter.description_zh
        assert parameter.minimum <= parameter.default <= parameter.maximum
    with pytest.raises(InvalidInput, match="Unknown what-if"):
        in_session(
            org_app, forecast, identity_of("ops.admin"), "territory:East China", what_if={"magic": 1.0}, today=DEMO_DAY
        )
    with pytest.raises(InvalidInput, match="between"):
        in_session(
            org_app,
            forecast,
            identity_of("ops.admin"),
            "territory:East China",
            what_if={"win_rate_shift": 3.0},
            today=DEMO_DAY,
        )


def test_rep_account_product_scopes_and_months(org_app, identity_of) -> None:
    rep = identity_of("li.wei")
    own = in_session(org_app, forecast, rep, "rep:li.wei", "2026-12", today=DEMO_DAY)
    assert own.period == "2026-12" and own.currency == "CNY"
    product = in_session(org_app, forecast, rep, "product:LUM-INS", today=DEMO_DAY)
    assert all(p.account for p in product.top_opportunities)
    with org_app.db.session() as session:
        from bot.core.models import Account, User

        li = session.scalar(select(User).where(User.handle == "li.wei"))
        own_accounts = set(session.scalars(select(Account.name).where(Account.owner_id == li.id)))
    assert {p.account for p in product.top_opportunities} <= own_accounts
    account = sorted(own_accounts)[0]
    assert in_session(org_app, forecast, rep, f"account:{account}", today=DEMO_DAY).scope == f"account:{account}"


@pytest.mark.parametrize(
    ("who", "scope", "error"),
    [
        ("li.wei", "rep:zhang.min", PermissionDenied),
        ("li.wei", "territory:East China", PermissionDenied),
        ("li.wei", "territory:North America", PermissionDenied),
        ("wang.fang", "territory:South China", PermissionDenied),
        ("wang.fang", "rep:jason.reed", PermissionDenied),
        ("zhao.lin", "territory:East China", PermissionDenied),
        ("wang.fang", "rep:nobody", NotFound),
        ("wang.fang", "planet:Mars", InvalidInput),
    ],
)
def test_forecast_permissions(org_app, identity_of, who, scope, error) -> None:
    with pytest.raises(error):
        in_session(org_app, forecast, identity_of(who), scope, today=DEMO_DAY)


def test_manager_may_forecast_own_reps(org_app, identity_of) -> None:
    assert (
        in_session(org_app, forecast, identity_of("wang.fang"), "rep:zhang.min", today=DEMO_DAY).scope
        == "rep:zhang.min"
    )


def test_product_forecasts_are_tracked_per_book(org_app, identity_of) -> None:
    rep, manager = identity_of("li.wei"), identity_of("wang.fang")
    mine = in_session(org_app, forecast, rep, "product:LUM-INS", "2026-Q3", today=date(2026, 6, 30))
    theirs = in_session(org_app, forecast, manager, "product:Lumina Insight", "2026-Q3", today=date(2026, 6, 30))
    assert mine.scope == "product:LUM-INS@rep:li.wei" and theirs.scope == "product:LUM-INS@territory:East China"
    in_session(org_app, record_actuals, DEMO_DAY)
    with org_app.db.session() as session:
        from bot.core.models import Account, Opportunity, User

        actuals = {a.scope_key: a.amount for a in session.scalars(select(Actual).where(Actual.scope_type == "product"))}
        li = session.scalar(select(User).where(User.handle == "li.wei"))
        won = session.scalars(
            select(Opportunity.amount)
            .join(Account)
            .where(
                Account.owner_id == li.id,
                Opportunity.status == "won",
                Opportunity.product.has(sku="LUM-INS"),
                Opportunity.closed_date >= date(2026, 7, 1),
                Opportunity.closed_date <= date(2026, 9, 30),
            )
        ).all()
    assert actuals["LUM-INS@rep:li.wei"] == pytest.approx(sum(won))
    assert actuals["LUM-INS@territory:East China"] >= actuals["LUM-INS@rep:li.wei"]


def test_a_territory_the_caller_may_not_forecast_is_refused(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        refusal = "Reps see their own book: ask for rep:li.wei instead of a territory."
        with pytest.raises(PermissionDenied, match=re.escape(refusal)):
            forecast(session, identity_of("li.wei"), "territory:East China", today=DEMO_DAY)
        with pytest.raises(PermissionDenied, match="territory 'North America'"):
            forecast(session, identity_of("wang.fang"), "territory:North America", today=DEMO_DAY)
        with pytest.raises(PermissionDenied):
            forecast(session, identity_of("zhao.lin"), "territory:North America", today=DEMO_DAY)
        assert forecast(session, identity_of("ops.admin"), "territory:North America", today=DEMO_DAY).scope == (
            "territory:North America"
        )


def test_an_admin_product_forecast_across_currencies_is_refused(org_app, identity_of) -> None:
    with org_app.db.session() as session, pytest.raises(InvalidInput, match="several currencies"):
        forecast(session, identity_of("ops.admin"), "product:LUM-INS", "2026-Q3", today=date(2026, 6, 30))


def test_an_empty_book_forecasts_and_records_nothing_of_others(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        east = session.scalar(select(Territory).where(Territory.name == "East China"))
        session.add(
            User(handle="new.rep", name="New Rep", email="new.rep@example.com", role=Role.REP, territory_id=east.id)
        )
    mine = in_session(org_app, forecast, identity_of("new.rep"), "product:LUM-INS", "2026-Q3", today=date(2026, 6, 30))
    assert mine.booked_to_date == 0 and mine.top_opportunities == []
    in_session(org_app, record_actuals, DEMO_DAY)
    with org_app.db.session() as session:
        actual = session.scalar(select(Actual).where(Actual.scope_key == "LUM-INS@rep:new.rep"))
    assert actual is not None and actual.amount == 0.0


def test_forecast_caches_key_on_the_database_the_session_is_bound_to(org_app, identity_of, tmp_path) -> None:
    """Two databases with the same data version (same demo seed) but one renamed deal: each
    forecast names its own database's deals."""
    manager = identity_of("wang.fang")
    first = in_session(org_app, forecast, manager, "territory:East China", today=DEMO_DAY)
    pick = first.top_opportunities[0]
    other = App(Settings(_env_file=None, data_dir=tmp_path / "other", llm_provider="none", cpu_threads=2))
    try:
        with other.db.session() as session:
            build_org(session, other.settings.demo_seed, DEMO_DAY)
        with other.db.session() as session:
            session.get(Opportunity, pick.id).name = "Renamed in the other database"
        again = in_session(other, forecast, manager, "territory:East China", today=DEMO_DAY)
    finally:
        other.close()
    assert again.point == pytest.approx(first.point)
    assert [p.name for p in again.top_opportunities if p.id == pick.id] == ["Renamed in the other database"]
    assert in_session(org_app, forecast, manager, "territory:East China", today=DEMO_DAY).top_opportunities[0] == pick
