"""The one access policy, table-driven: role x resource x relation -> allowed.

Every rule is checked twice, as the SQL clause (a query for the record) and as the Python
predicate (the record in memory), and the two must agree with the table and with each other.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core import access
from bot.core.errors import NotFound, PermissionDenied
from bot.core.identity import Identity, identity_for_platform_user, resolve_user
from bot.core.models import (
    Account,
    Call,
    KnowledgeDocument,
    Opportunity,
    OpportunityStage,
    OpportunityStatus,
    RiskAlert,
    Role,
    Territory,
    User,
    Visibility,
)

# Who is who. rep_moved made calls and owns an account in East, then moved to West.
USERS: dict[str, tuple[Role, str | None]] = {
    "admin": (Role.ADMIN, None),
    "mgr_east": (Role.MANAGER, "East"),
    "mgr_west": (Role.MANAGER, "West"),
    "mgr_none": (Role.MANAGER, None),
    "rep_a": (Role.REP, "East"),
    "rep_b": (Role.REP, "East"),
    "rep_w": (Role.REP, "West"),
    "rep_moved": (Role.REP, "West"),
    "rep_none": (Role.REP, None),
    "trainer": (Role.TRAINER, None),
}
EVERYONE = frozenset(USERS) | {"unknown"}

ACCOUNTS = {
    "acc_a": ("rep_a", "East"),
    "acc_b": ("rep_b", "East"),
    "acc_w": ("rep_w", "West"),
    "acc_m": ("rep_moved", "East"),
}
CALLS = {  # name -> (owner, territory the call was made in)
    "call_a": ("rep_a", "East"),
    "call_moved_old": ("rep_moved", "East"),
    "call_moved_new": ("rep_moved", "West"),
    "call_no_territory": ("rep_none", None),
}
DOCUMENTS = {  # name -> (visibility, territory, account, added by)
    "doc_public": ("everyone", None, None, "admin"),
    "doc_east": ("territory", "East", None, "trainer"),
    "doc_west": ("territory", "West", None, "admin"),
    "history_a": ("owner", "East", "acc_a", "admin"),
    "history_b_by_trainer": ("owner", "East", "acc_b", "trainer"),
    "territory_history_a": ("territory", "East", "acc_a", "admin"),
}

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    # accounts follow their own territory and owner
    ("accounts", "acc_a"): frozenset({"admin", "mgr_east", "rep_a"}),
    ("accounts", "acc_w"): frozenset({"admin", "mgr_west", "rep_w"}),
    ("accounts", "acc_m"): frozenset({"admin", "mgr_east", "rep_moved"}),  # not the owner's new manager
    # opportunities and alerts follow their account
    ("opportunities", "acc_a"): frozenset({"admin", "mgr_east", "rep_a"}),
    ("opportunities", "acc_m"): frozenset({"admin", "mgr_east", "rep_moved"}),
    ("alerts", "acc_b"): frozenset({"admin", "mgr_east", "rep_b"}),
    ("alerts", "acc_w"): frozenset({"admin", "mgr_west", "rep_w"}),
    # calls keep the territory they were made in; a manager without one sees no one's calls
    ("calls", "call_a"): frozenset({"admin", "mgr_east", "rep_a"}),
    ("calls", "call_moved_old"): frozenset({"admin", "mgr_east", "rep_moved"}),
    ("calls", "call_moved_new"): frozenset({"admin", "mgr_west", "rep_moved"}),
    ("calls", "call_no_territory"): frozenset({"admin", "rep_none"}),
    # documents: the same rule serves search and `kb list`
    ("documents", "doc_public"): EVERYONE,
    ("documents", "doc_east"): frozenset({"admin", "mgr_east", "rep_a", "rep_b", "trainer"}),
    ("documents", "doc_west"): frozenset({"admin", "mgr_west", "rep_w", "rep_moved", "trainer"}),
    ("documents", "history_a"): frozenset({"admin", "mgr_east", "rep_a"}),
    ("documents", "history_b_by_trainer"): frozenset({"admin", "mgr_east", "rep_b", "trainer"}),
    ("documents", "territory_history_a"): frozenset({"admin", "mgr_east", "rep_a", "rep_b"}),
    # territory views, territory forecasts, and whose book/calls one may look at
    ("territories", "East"): frozenset({"admin", "mgr_east", "rep_a", "rep_b"}),
    ("territories", "West"): frozenset({"admin", "mgr_west", "rep_w", "rep_moved"}),
    ("territory_forecasts", "East"): frozenset({"admin", "mgr_east"}),
    ("team", "rep_a"): frozenset({"admin", "mgr_east", "rep_a"}),
    ("team", "rep_moved"): frozenset({"admin", "mgr_west", "rep_moved"}),
    ("team", "rep_none"): frozenset({"admin", "rep_none"}),
    ("team", "mgr_none"): frozenset({"admin", "mgr_none"}),
}

RULES = {
    "accounts": (access.accounts, Account),
    "opportunities": (access.opportunities, Opportunity),
    "alerts": (access.alerts, RiskAlert),
    "calls": (access.calls, Call),
    "documents": (access.documents, KnowledgeDocument),
    "territories": (access.territories, Territory),
    "territory_forecasts": (access.territory_forecasts, Territory),
    "team": (access.team, User),
}


def build_world(app) -> dict[str, Any]:
    """A small org with one record per relation in the table; returns names -> ids and identities."""
    ids: dict[tuple[str, str], int] = {}
    with app.db.session() as session:
        territories = {name: Territory(name=name, currency="USD") for name in ("East", "West")}
        session.add_all(territories.values())
        session.flush()
        users = {
            handle: User(
                handle=handle,
                name=handle,
                email=f"{handle}@example.com",
                role=role,
                territory_id=territories[home].id if home else None,
            )
            for handle, (role, home) in USERS.items()
        }
        session.add_all(users.values())
        session.flush()
        for name, (owner, home) in ACCOUNTS.items():
            account = Account(
                name=name, industry="logistics", territory_id=territories[home].id, owner_id=users[owner].id
            )
            session.add(account)
            session.flush()
            opportunity = Opportunity(
                name=f"{name} deal",
                account_id=account.id,
                owner_id=users[owner].id,
                amount=1000.0,
                stage=OpportunityStage.PROPOSAL,
                probability=0.5,
                status=OpportunityStatus.OPEN,
                created_date=date(2026, 1, 1),
                expected_close_date=date(2026, 12, 31),
            )
            alert = RiskAlert(
                rule_id="quiet",
                scope_type="account",
                scope_key=name,
                account_id=account.id,
                territory_id=account.territory_id,
                severity="high",
                message="quiet",
            )
            session.add_all([opportunity, alert])
            session.flush()
            ids[("accounts", name)] = account.id
            ids[("opportunities", name)] = opportunity.id
            ids[("alerts", name)] = alert.id
        for name, (owner, home) in CALLS.items():
            call = Call(
                owner_id=users[owner].id,
                territory_id=territories[home].id if home else None,
                title=name,
                original_filename=f"{name}.wav",
                audio_path=f"/audio/{name}.wav",
                audio_sha256=name.ljust(64, "0"),
            )
            session.add(call)
            session.flush()
            ids[("calls", name)] = call.id
        for name, (visibility, home, account_name, added_by) in DOCUMENTS.items():
            document = KnowledgeDocument(
                source_path=f"kb/{name}.md",
                title=name,
                kind="customer_history" if account_name else "playbook",
                language="en",
                format="md",
                visibility=Visibility(visibility),
                territory_id=territories[home].id if home else None,
                account_id=ids[("accounts", account_name)] if account_name else None,
                added_by_id=users[added_by].id,
                content_hash=name,
                size_bytes=1,
            )
            session.add(document)
            session.flush()
            ids[("documents", name)] = document.id
        for name, territory in territories.items():
            ids[("territories", name)] = ids[("territory_forecasts", name)] = territory.id
        for handle, user in users.items():
            ids[("team", handle)] = user.id
        identities = {handle: Identity.from_user(user) for handle, user in users.items()}
    identities["unknown"] = Identity.anonymous("slack", "U-STRANGER")
    return {"ids": ids, "identities": identities}


@pytest.fixture
def world(app) -> dict[str, Any]:
    return build_world(app)


@pytest.mark.parametrize(("resource", "record"), sorted(EXPECTED))
def test_each_rule_allows_exactly_the_table_in_sql_and_in_python(app, world, resource: str, record: str) -> None:
    check_rule(app, world, resource, record)


def check_rule(app, world: dict[str, Any], resource: str, record: str) -> None:
    """The rule of `resource` allows `record` to exactly the table's users, in SQL and in Python."""
    rule_of, entity = RULES[resource]
    record_id = world["ids"][(resource, record)]
    allowed_sql, allowed_python = set(), set()
    with app.db.session() as session:
        row = session.get(entity, record_id)
        for who, identity in world["identities"].items():
            rule = rule_of(identity)
            if session.scalar(select(entity.id).where(entity.id == record_id, rule.clause(entity))) is not None:
                allowed_sql.add(who)
            if rule.bound(session).allows(row):
                allowed_python.add(who)
    assert allowed_sql == EXPECTED[(resource, record)], f"SQL clause of {resource} on {record}"
    assert allowed_python == allowed_sql, f"Python predicate of {resource} on {record} disagrees with SQL"


def test_an_unbound_rule_with_a_reference_refuses_to_guess(app, world) -> None:
    rule = access.documents(world["identities"]["rep_a"])
    with app.db.session() as session, pytest.raises(TypeError, match="bind"):
        rule.allows(session.get(KnowledgeDocument, world["ids"][("documents", "history_a")]))


def test_knowledge_edits_follow_what_the_editor_can_see(app, world) -> None:
    who = world["identities"]
    with app.db.session() as session:
        document = {name: session.get(KnowledgeDocument, world["ids"][("documents", name)]) for name in DOCUMENTS}
        assert access.can_change_document(session, who["trainer"], document["doc_public"])
        assert access.can_change_document(session, who["trainer"], document["history_b_by_trainer"])
        assert not access.can_change_document(session, who["trainer"], document["history_a"])
        assert all(access.can_change_document(session, who["admin"], d) for d in document.values())
        assert not access.can_change_document(session, who["mgr_east"], document["doc_east"])
    assert access.can_add_knowledge(who["trainer"]) and not access.can_add_knowledge(who["rep_a"])
    access.require_role(who["rep_a"], *access.CALL_UPLOADERS)
    for outsider in ("trainer", "unknown"):
        with pytest.raises(PermissionDenied, match="Only rep, manager, admin users"):
            access.require_role(who[outsider], *access.CALL_UPLOADERS)


def test_visible_account_ids(app, world) -> None:
    who = world["identities"]
    with app.db.session() as session:
        assert access.visible_account_ids(session, who["rep_a"]) == {world["ids"][("accounts", "acc_a")]}
        assert access.visible_account_ids(session, who["admin"]) is None
        assert access.visible_account_ids(session, who["mgr_none"]) == set()


# --- lookups on the demo org ------------------------------------------------------------------


def _count_accounts(app, identity: Identity) -> int:
    with app.db.session() as session:
        return session.scalar(
            select(func.count()).select_from(Account).where(access.accounts(identity).clause(Account))
        )


def test_each_role_sees_exactly_its_demo_accounts(org_app, identity_of) -> None:
    assert _count_accounts(org_app, identity_of("li.wei")) == 10
    assert _count_accounts(org_app, identity_of("wang.fang")) == 30
    assert _count_accounts(org_app, identity_of("ops.admin")) == 90
    assert _count_accounts(org_app, identity_of("zhao.lin")) == 0
    assert _count_accounts(org_app, Identity.anonymous("slack", "U999")) == 0


def test_a_rep_cannot_open_another_reps_account_by_name(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        other = session.scalar(
            select(Account).join(User, Account.owner_id == User.id).where(User.handle == "zhang.min")
        )
        mine = session.scalar(select(Account).join(User, Account.owner_id == User.id).where(User.handle == "li.wei"))
        assert access.find_account(session, identity_of("li.wei"), mine.name).id == mine.id
        with pytest.raises(PermissionDenied):
            access.find_account(session, identity_of("li.wei"), other.name)
        with pytest.raises(PermissionDenied):
            access.find_account(session, identity_of("li.wei"), str(other.id))
        # The territory manager may open it.
        assert access.find_account(session, identity_of("wang.fang"), other.name).id == other.id
        with pytest.raises(NotFound):
            access.find_account(session, identity_of("li.wei"), "No Such Company Ltd")


def test_partial_names_match_only_visible_accounts(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        mine = session.scalar(
            select(Account).join(User, Account.owner_id == User.id).where(User.handle == "jason.reed")
        )
        fragment = mine.name_en.split()[0]
        found = access.find_account(session, identity_of("jason.reed"), fragment.lower())
        assert found.owner_id == identity_of("jason.reed").user_id


def test_territory_lookup(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        assert access.find_territory(session, identity_of("wang.fang")).name == "East China"
        assert access.find_territory(session, identity_of("wang.fang"), "华东").name == "East China"
        with pytest.raises(PermissionDenied):
            access.find_territory(session, identity_of("wang.fang"), "North America")
        assert access.find_territory(session, identity_of("ops.admin"), "north america").name == "North America"
        with pytest.raises(NotFound):
            access.find_territory(session, identity_of("ops.admin"), "Antarctica")
        rep = identity_of("li.wei")
        assert access.find_territory(session, rep).name == "East China"
        with pytest.raises(PermissionDenied):
            access.find_territory(session, rep, rule=access.territory_forecasts(rep))


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
    access.require_role(identity_of("zhao.lin"), Role.TRAINER, Role.ADMIN)
    with pytest.raises(PermissionDenied):
        access.require_role(identity_of("li.wei"), Role.TRAINER, Role.ADMIN, action="edit the knowledge base")
