import pytest
from sqlalchemy import func, select

from bot.core.errors import NotFound, PermissionDenied
from bot.core.identity import (
    Identity,
    account_clause,
    call_clause,
    find_account,
    get_territory,
    identity_for_platform_user,
    require_role,
    resolve_user,
    visible_account_ids,
)
from bot.core.models import Account, Call, Role, Territory, User


def _count_accounts(app, identity: Identity) -> int:
    with app.db.session() as session:
        return session.scalar(select(func.count()).select_from(Account).where(account_clause(identity)))


def test_each_role_sees_exactly_its_accounts(org_app, identity_of) -> None:
    rep = identity_of("li.wei")
    manager = identity_of("wang.fang")
    assert _count_accounts(org_app, rep) == 10
    assert _count_accounts(org_app, manager) == 30
    assert _count_accounts(org_app, identity_of("ops.admin")) == 90
    assert _count_accounts(org_app, identity_of("zhao.lin")) == 0
    assert _count_accounts(org_app, Identity.anonymous("slack", "U999")) == 0
    with org_app.db.session() as session:
        own = visible_account_ids(session, rep)
        owners = set(session.scalars(select(Account.owner_id).where(Account.id.in_(own))))
        assert owners == {rep.user_id}
        territories = set(
            session.scalars(select(Account.territory_id).where(Account.id.in_(visible_account_ids(session, manager))))
        )
        assert territories == {manager.territory_id}
        assert visible_account_ids(session, identity_of("ops.admin")) is None


def test_a_rep_cannot_open_another_reps_account_by_name(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        other = session.scalar(select(Account).join(User, Account.owner_id == User.id).where(User.handle == "zhang.min"))
        mine = session.scalar(select(Account).join(User, Account.owner_id == User.id).where(User.handle == "li.wei"))
        assert find_account(session, identity_of("li.wei"), mine.name).id == mine.id
        with pytest.raises(PermissionDenied):
            find_account(session, identity_of("li.wei"), other.name)
        with pytest.raises(PermissionDenied):
            find_account(session, identity_of("li.wei"), str(other.id))
        # The territory manager may open it.
        assert find_account(session, identity_of("wang.fang"), other.name).id == other.id
        with pytest.raises(NotFound):
            find_account(session, identity_of("li.wei"), "No Such Company Ltd")


def test_partial_names_match_only_visible_accounts(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        mine = session.scalar(select(Account).join(User, Account.owner_id == User.id).where(User.handle == "jason.reed"))
        fragment = mine.name_en.split()[0]
        found = find_account(session, identity_of("jason.reed"), fragment.lower())
        assert found.owner_id == identity_of("jason.reed").user_id


def test_territory_access(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        assert get_territory(session, identity_of("wang.fang")).name == "East China"
        assert get_territory(session, identity_of("wang.fang"), "华东").name == "East China"
        with pytest.raises(PermissionDenied):
            get_territory(session, identity_of("wang.fang"), "North America")
        assert get_territory(session, identity_of("ops.admin"), "north america").name == "North America"
        with pytest.raises(NotFound):
            get_territory(session, identity_of("ops.admin"), "Antarctica")


def test_calls_are_visible_to_owner_their_manager_and_admin(org_app, identity_of) -> None:
    rep = identity_of("li.wei")
    with org_app.db.session() as session:
        session.add(
            Call(owner_id=rep.user_id, title="t", original_filename="a.wav", audio_path="/x/a.wav", audio_sha256="0" * 64)
        )
    def visible(identity: Identity) -> int:
        with org_app.db.session() as session:
            return session.scalar(select(func.count()).select_from(Call).where(call_clause(identity)))
    assert visible(rep) == 1
    assert visible(identity_of("zhang.min")) == 0
    assert visible(identity_of("wang.fang")) == 1
    assert visible(identity_of("chen.zhiqiang")) == 0
    assert visible(identity_of("ops.admin")) == 1
    assert visible(Identity.anonymous("wecom", "stranger")) == 0


def test_platform_users_map_by_id_then_email(org_app) -> None:
    with org_app.db.session() as session:
        by_id = identity_for_platform_user(session, "slack", "U0DEMO002")
        assert by_id.handle == "li.wei"
        user = resolve_user(session, "emily.carter")
        user.slack_user_id = None
    with org_app.db.session() as session:
        by_email = identity_for_platform_user(session, "slack", "UNEW42", email="Emily.Carter@lumina.example")
        assert by_email.handle == "emily.carter"
    with org_app.db.session() as session:
        assert resolve_user(session, "emily.carter").slack_user_id == "UNEW42"  # linked for next time
        stranger = identity_for_platform_user(session, "wecom", "nobody", email="x@elsewhere.example")
        assert not stranger.is_known and stranger.role is None


def test_resolve_user_by_handle_or_email_and_require_role(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        assert resolve_user(session, "SARAH.MITCHELL@lumina.example").handle == "sarah.mitchell"
        with pytest.raises(NotFound):
            resolve_user(session, "ghost")
        assert session.scalar(select(func.count()).select_from(Territory)) == 3
    require_role(identity_of("zhao.lin"), Role.TRAINER, Role.ADMIN)
    with pytest.raises(PermissionDenied):
        require_role(identity_of("li.wei"), Role.TRAINER, Role.ADMIN, action="edit the knowledge base")
