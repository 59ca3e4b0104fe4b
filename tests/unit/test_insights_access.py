"""Who sees what in insights: a manager without a territory sees no territory's data (not even
the people who have no territory either), and territories the caller may not see are refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.app import App
from bot.core.errors import NotFound, PermissionDenied
from bot.core.identity import Identity
from bot.core.models import Account, Opportunity, Role, User
from insights.accounts import account_overview, my_pipeline
from insights.forecast import forecast
from insights.resonance import resonance
from insights.risk import evaluate, list_alerts
from insights.summary import territory_summary
from tests.conftest import DEMO_DAY

IdentityOf = Callable[[str], Identity]
Homeless = tuple[Identity, str]  # the manager without a territory, and the floating rep's account


@pytest.fixture
def homeless(org_app: App, identity_of: IdentityOf) -> Homeless:
    """A manager without a territory, and a rep without one who owns an East China account."""
    with org_app.db.session() as session:
        session.add(User(handle="drifting.manager", name="Drifting Manager", email="dm@example.com", role=Role.MANAGER))
        rep = User(handle="floating.rep", name="Floating Rep", email="fr@example.com", role=Role.REP)
        session.add(rep)
        session.flush()
        account = session.scalar(select(Account).where(Account.territory.has(name="East China")).order_by(Account.id))
        account.owner_id = rep.id
        for opp in session.scalars(select(Opportunity).where(Opportunity.account_id == account.id)):
            opp.owner_id = rep.id
        name = account.name
    return identity_of("drifting.manager"), name


def test_a_manager_without_a_territory_sees_no_territory_data(org_app: App, homeless: Homeless) -> None:
    manager, account = homeless
    assert manager.role is Role.MANAGER and manager.territory_id is None
    with org_app.db.session() as session:
        # The rep without a territory is not "in the same territory" as the manager without one.
        with pytest.raises(PermissionDenied, match=r"floating\.rep"):
            forecast(session, manager, "rep:floating.rep", today=DEMO_DAY)
        with pytest.raises(PermissionDenied):
            forecast(session, manager, "territory:East China", today=DEMO_DAY)
        with pytest.raises(NotFound, match="no territory"):
            forecast(session, manager, "product:LUM-INS", today=DEMO_DAY)
        with pytest.raises(PermissionDenied):
            forecast(session, manager, f"account:{account}", today=DEMO_DAY)
        with pytest.raises(NotFound, match="no territory"):
            territory_summary(session, manager, None, today=DEMO_DAY)
        with pytest.raises(PermissionDenied):
            territory_summary(session, manager, "East China", today=DEMO_DAY)
        with pytest.raises(PermissionDenied):
            account_overview(session, manager, account, today=DEMO_DAY)
        with pytest.raises(PermissionDenied):
            resonance(session, manager, account, today=DEMO_DAY)
        pipeline = my_pipeline(session, manager, today=DEMO_DAY)
        assert pipeline.opportunities == [] and pipeline.target is None and pipeline.open_total == 0
        assert evaluate(session, DEMO_DAY)  # there are alerts, in territories...
        assert list_alerts(session, manager) == []  # ...that are not this manager's
        with pytest.raises(PermissionDenied, match=r"floating\.rep"):
            list_alerts(session, manager, "rep:floating.rep")
        with pytest.raises(PermissionDenied):
            list_alerts(session, manager, "territory:East China")


def test_the_rep_without_a_territory_still_sees_their_own_book(
    org_app: App, homeless: Homeless, identity_of: IdentityOf
) -> None:
    _, account = homeless
    rep = identity_of("floating.rep")
    with org_app.db.session() as session:
        own = forecast(session, rep, "rep:floating.rep", today=DEMO_DAY)
        assert own.scope == "rep:floating.rep" and own.currency == "USD"  # no territory: no territory currency
        assert account_overview(session, rep, account, today=DEMO_DAY).name == account
        assert {o.account for o in my_pipeline(session, rep, today=DEMO_DAY).opportunities} <= {account}


@pytest.mark.parametrize(
    ("who", "territory"),
    [("wang.fang", "North America"), ("sarah.mitchell", "华东"), ("chen.zhiqiang", "East China")],
)
def test_forecasts_and_summaries_of_a_territory_the_caller_may_not_see_are_refused(
    org_app: App, identity_of: IdentityOf, who: str, territory: str
) -> None:
    with org_app.db.session() as session:
        with pytest.raises(PermissionDenied, match="You don't have access to territory"):
            forecast(session, identity_of(who), f"territory:{territory}", today=DEMO_DAY)
        with pytest.raises(PermissionDenied, match="You don't have access to territory"):
            territory_summary(session, identity_of(who), territory, today=DEMO_DAY)
        with pytest.raises(PermissionDenied, match="You don't have access to territory"):
            list_alerts(session, identity_of(who), f"territory:{territory}")
