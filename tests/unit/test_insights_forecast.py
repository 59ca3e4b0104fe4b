"""Forecasts on the demo org: result contract, snapshots and actuals, what-if, permissions."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bot.core.errors import InvalidInput, NotFound, PermissionDenied
from bot.core.models import Actual, ForecastSnapshot
from insights.forecast import WHAT_IF_PARAMETERS, forecast, record_actuals
from tests.conftest import DEMO_DAY


def test_territory_forecast_states_interval_target_accuracy_and_top_deals(org_app, identity_of) -> None:
    result = forecast(org_app, identity_of("wang.fang"), "territory:East China", today=DEMO_DAY)
    assert result.period == "2026-Q4" and result.currency == "CNY"
    assert result.lower <= result.point <= result.upper
    assert result.booked_to_date <= result.lower
    assert result.target is not None and result.gap_to_target == pytest.approx(result.target - result.point, abs=0.01)
    assert result.accuracy.periods > 0 and result.accuracy.mape is not None and result.accuracy.mase is not None
    assert result.accuracy.source == "backtest"
    method = result.method
    assert set(method) >= {"pipeline_weighted", "baseline", "learned_win_rate", "learned_slippage"}
    assert method["learned_win_rate"]["negotiation"] > method["learned_win_rate"]["prospecting"]
    assert 1 <= len(result.top_opportunities) <= 3
    assert all(pick.why for pick in result.top_opportunities)
    values = [pick.expected_value for pick in result.top_opportunities]
    assert values == sorted(values, reverse=True)
    data = result.to_dict()
    assert data["accuracy"]["mase"] == result.accuracy.mase


def test_every_forecast_is_snapshotted_and_actuals_recorded_when_the_period_closes(org_app, identity_of) -> None:
    admin = identity_of("ops.admin")
    early = forecast(org_app, admin, "territory:North America", "2026-Q3", today=date(2026, 6, 30))
    with org_app.db.session() as session:
        snap = session.get(ForecastSnapshot, early.snapshot_id)
        assert (snap.scope_key, snap.period, snap.as_of, snap.method) == ("North America", "2026-Q3", date(2026, 6, 30), "copilot")
        assert session.scalars(select(Actual)).all() == []
    assert record_actuals(org_app, DEMO_DAY) == 1
    assert record_actuals(org_app, DEMO_DAY) == 0
    closed = forecast(org_app, admin, "territory:North America", "2026-Q3", today=DEMO_DAY)
    with org_app.db.session() as session:
        actual = session.scalar(select(Actual).where(Actual.period == "2026-Q3"))
    assert actual.amount == pytest.approx(closed.point)  # a closed period's forecast is its actual
    now = forecast(org_app, admin, "territory:North America", today=DEMO_DAY)
    assert now.accuracy.source == "tracked" and now.accuracy.periods == 1
    expected_mape = abs(actual.amount - early.point) / actual.amount
    assert now.accuracy.mape == pytest.approx(expected_mape, abs=1e-3)


def test_what_if_moves_the_forecast_the_right_way(org_app, identity_of) -> None:
    manager = identity_of("wang.fang")
    base = forecast(org_app, manager, "territory:East China", today=DEMO_DAY).point
    def scenario(**values: float) -> float:
        return forecast(org_app, manager, "territory:East China", what_if=values, today=DEMO_DAY).point
    assert scenario(win_rate_shift=0.1) > base
    assert scenario(deal_size_shift=0.2) > base
    assert scenario(discount_rate=0.2) < base
    assert scenario(big_account_delay=0.8) <= base
    assert scenario(cycle_stretch=0.5) < base
    result = forecast(org_app, manager, "territory:East China", what_if={"win_rate_shift": 0.1}, today=DEMO_DAY)
    assert result.what_if == {"win_rate_shift": 0.1}
    with org_app.db.session() as session:
        assert session.get(ForecastSnapshot, result.snapshot_id).method == "copilot_what_if"


def test_what_if_parameters_are_described_and_validated(org_app, identity_of) -> None:
    for name in ("big_account_delay", "new_channel_ramp", "win_rate_shift", "deal_size_shift"):
        parameter = WHAT_IF_PARAMETERS[name]
        assert parameter.description_en and parameter.description_zh
        assert parameter.minimum <= parameter.default <= parameter.maximum
    with pytest.raises(InvalidInput, match="Unknown what-if"):
        forecast(org_app, identity_of("ops.admin"), "territory:East China", what_if={"magic": 1.0}, today=DEMO_DAY)
    with pytest.raises(InvalidInput, match="between"):
        forecast(org_app, identity_of("ops.admin"), "territory:East China", what_if={"win_rate_shift": 3.0}, today=DEMO_DAY)


def test_rep_account_product_scopes_and_months(org_app, identity_of) -> None:
    rep = identity_of("li.wei")
    own = forecast(org_app, rep, "rep:li.wei", "2026-12", today=DEMO_DAY)
    assert own.period == "2026-12" and own.currency == "CNY"
    product = forecast(org_app, rep, "product:LUM-INS", today=DEMO_DAY)
    assert all(p.account for p in product.top_opportunities)
    with org_app.db.session() as session:
        from bot.core.models import Account, User

        li = session.scalar(select(User).where(User.handle == "li.wei"))
        own_accounts = set(session.scalars(select(Account.name).where(Account.owner_id == li.id)))
    assert {p.account for p in product.top_opportunities} <= own_accounts
    account = sorted(own_accounts)[0]
    assert forecast(org_app, rep, f"account:{account}", today=DEMO_DAY).scope == f"account:{account}"


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
        forecast(org_app, identity_of(who), scope, today=DEMO_DAY)


def test_manager_may_forecast_own_reps(org_app, identity_of) -> None:
    assert forecast(org_app, identity_of("wang.fang"), "rep:zhang.min", today=DEMO_DAY).scope == "rep:zhang.min"


def test_product_forecasts_are_tracked_per_book(org_app, identity_of) -> None:
    rep, manager = identity_of("li.wei"), identity_of("wang.fang")
    mine = forecast(org_app, rep, "product:LUM-INS", "2026-Q3", today=date(2026, 6, 30))
    theirs = forecast(org_app, manager, "product:Lumina Insight", "2026-Q3", today=date(2026, 6, 30))
    assert mine.scope == "product:LUM-INS@rep:li.wei" and theirs.scope == "product:LUM-INS@territory:East China"
    record_actuals(org_app, DEMO_DAY)
    with org_app.db.session() as session:
        from bot.core.models import Account, Opportunity, User

        actuals = {a.scope_key: a.amount for a in session.scalars(select(Actual).where(Actual.scope_type == "product"))}
        li = session.scalar(select(User).where(User.handle == "li.wei"))
        won = session.scalars(
            select(Opportunity.amount).join(Account).where(
                Account.owner_id == li.id, Opportunity.status == "won", Opportunity.product.has(sku="LUM-INS"),
                Opportunity.closed_date >= date(2026, 7, 1), Opportunity.closed_date <= date(2026, 9, 30),
            )
        ).all()
    assert actuals["LUM-INS@rep:li.wei"] == pytest.approx(sum(won))
    assert actuals["LUM-INS@territory:East China"] >= actuals["LUM-INS@rep:li.wei"]
