"""The one access policy: what each caller may see and change. Enforced in code, never by a prompt.

Each resource has one definition, a `Rule`: a union of grants, each grant a conjunction of
"field is one of these values" conditions over the record's own columns. The same rule gives
the SQL clause (`rule.clause(Entity)`) that queries filter with and the Python predicate
(`rule.bound(session).allows(record)`) for records already loaded, so the two cannot disagree.

- a rep sees their own accounts (and those accounts' opportunities, alerts and customer
  histories), their own calls, and their territory's shared documents;
- a manager sees their territory's accounts and the calls made in it (a call keeps the
  territory it was made in, so a rep's transfer does not move old calls to the new manager);
- a trainer sees every document not tied to a customer, plus the ones they added, and edits
  the knowledge base;
- an admin sees everything; an unknown chat user sees public knowledge only;
- a manager or rep without a territory matches no territory (not the users without one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import Session

from bot.core.errors import NotFound, PermissionDenied
from bot.core.identity import Identity
from bot.core.models import Account, KnowledgeDocument, Role, Territory

__all__ = [
    "CALL_UPLOADERS",
    "KNOWLEDGE_EDITORS",
    "Rule",
    "Within",
    "accounts",
    "alerts",
    "calls",
    "can_add_knowledge",
    "can_change_document",
    "documents",
    "find_account",
    "find_territory",
    "opportunities",
    "require_role",
    "team",
    "territories",
    "territory_forecasts",
    "visible_account_ids",
]

Value: TypeAlias = int | str | bool | None


@dataclass(frozen=True)
class Within:
    """The field holds the id of an `entity` record that `rule` lets the caller see."""

    entity: type[Any]
    rule: Rule


Values: TypeAlias = frozenset[Value] | Within
Grant: TypeAlias = tuple[tuple[str, Values], ...]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


@dataclass(frozen=True)
class Rule:
    """Records matching any grant are allowed; `everything` allows all, no grants allow none."""

    grants: tuple[Grant, ...] = ()
    everything: bool = False

    @classmethod
    def all(cls) -> Rule:
        return cls(everything=True)

    @classmethod
    def none(cls) -> Rule:
        return cls()

    @classmethod
    def any_of(cls, *grants: Mapping[str, Iterable[Value] | Within]) -> Rule:
        return cls(
            tuple(
                tuple(
                    (field, values if isinstance(values, Within) else frozenset(_plain(v) for v in values))
                    for field, values in sorted(grant.items())
                )
                for grant in grants
            )
        )

    # --- SQL ---------------------------------------------------------------------------
    def clause(self, entity: type[Any]) -> ColumnElement[bool]:
        """A WHERE clause on `entity` (an ORM class with the rule's fields as attributes)."""
        if self.everything:
            return true()
        if not self.grants:
            return false()
        return or_(*(and_(*(_condition(entity, field, values) for field, values in grant)) for grant in self.grants))

    # --- Python ------------------------------------------------------------------------
    def bound(self, session: Session) -> Rule:
        """The same rule with every `Within` replaced by the ids it stands for, so `allows`
        can check records in memory (one query per reference)."""
        if self.everything or not self.grants:
            return self
        return Rule(
            tuple(
                tuple(
                    (field, _ids(session, values) if isinstance(values, Within) else values) for field, values in grant
                )
                for grant in self.grants
            )
        )

    def allows(self, record: Any) -> bool:
        """Whether the rule allows `record` (an object with the fields as attributes, or a
        mapping). A rule with references must be `bound` first."""
        if self.everything:
            return True
        return any(all(_holds(record, field, values) for field, values in grant) for grant in self.grants)


def _condition(entity: type[Any], field: str, values: Values) -> ColumnElement[bool]:
    column = getattr(entity, field)
    if isinstance(values, Within):
        return column.in_(select(values.entity.id).where(values.rule.clause(values.entity)))
    present = sorted(v for v in values if v is not None)
    parts: list[ColumnElement[bool]] = []
    if present:
        parts.append(column.in_(present))
    if None in values:
        parts.append(column.is_(None))
    return or_(*parts) if parts else false()


def _ids(session: Session, within: Within) -> frozenset[Value]:
    return frozenset(session.scalars(select(within.entity.id).where(within.rule.clause(within.entity))))


def _holds(record: Any, field: str, values: Values) -> bool:
    if isinstance(values, Within):
        raise TypeError("bind the rule to a session before checking records in memory")
    value = record[field] if isinstance(record, Mapping) else getattr(record, field)
    return _plain(value) in values


# --- the rules, one per resource ------------------------------------------------------------


def _own(identity: Identity) -> frozenset[Value]:
    return frozenset({identity.user_id}) if identity.user_id is not None else frozenset()


def accounts(identity: Identity) -> Rule:
    """Accounts: a rep's own, a manager's territory's, everything for an admin."""
    if identity.role is Role.ADMIN:
        return Rule.all()
    if identity.role is Role.MANAGER and identity.territory_id is not None:
        return Rule.any_of({"territory_id": [identity.territory_id]})
    if identity.role is Role.REP and identity.user_id is not None:
        return Rule.any_of({"owner_id": [identity.user_id]})
    return Rule.none()


def _of_visible_accounts(identity: Identity) -> Rule:
    if identity.role is Role.ADMIN:
        return Rule.all()
    rule = accounts(identity)
    return Rule.any_of({"account_id": Within(Account, rule)}) if rule.grants else Rule.none()


def opportunities(identity: Identity) -> Rule:
    """Opportunities follow their account."""
    return _of_visible_accounts(identity)


def alerts(identity: Identity) -> Rule:
    """Risk alerts follow their account."""
    return _of_visible_accounts(identity)


def calls(identity: Identity) -> Rule:
    """Calls: the caller's own; a manager's also those made in their territory."""
    if identity.role is Role.ADMIN:
        return Rule.all()
    if identity.user_id is None:
        return Rule.none()
    grants: list[dict[str, Any]] = [{"owner_id": _own(identity)}]
    if identity.role is Role.MANAGER and identity.territory_id is not None:
        grants.append({"territory_id": [identity.territory_id]})
    return Rule.any_of(*grants)


def documents(identity: Identity) -> Rule:
    """Knowledge documents, for search and listing alike (fields of KnowledgeDocument)."""
    if identity.role is Role.ADMIN:
        return Rule.all()
    grants: list[dict[str, Any]] = [{"visibility": ["everyone"]}]
    if identity.role is Role.TRAINER:
        # What trainers edit: everything not tied to a customer, and what they added themselves.
        grants.append({"account_id": [None]})
        grants.append({"added_by_id": _own(identity)})
    if identity.role in (Role.REP, Role.MANAGER):
        if identity.territory_id is not None:
            grants.append({"visibility": ["territory"], "territory_id": [identity.territory_id]})
        visible = accounts(identity)
        if visible.grants:
            grants.append({"account_id": Within(Account, visible)})
    return Rule.any_of(*grants)


def territories(identity: Identity) -> Rule:
    """Territories whose views (summary, gap heat map) the caller may open: their own; admin all."""
    if identity.role is Role.ADMIN:
        return Rule.all()
    if identity.role in (Role.MANAGER, Role.REP) and identity.territory_id is not None:
        return Rule.any_of({"id": [identity.territory_id]})
    return Rule.none()


def territory_forecasts(identity: Identity) -> Rule:
    """Territories the caller may forecast as a whole: a manager their own; admin all (reps
    forecast their own book instead)."""
    if identity.role is Role.ADMIN:
        return Rule.all()
    if identity.role is Role.MANAGER and identity.territory_id is not None:
        return Rule.any_of({"id": [identity.territory_id]})
    return Rule.none()


def team(identity: Identity) -> Rule:
    """Users whose book, calls and progress the caller may look at: themselves; a manager also
    the users of their territory; admin everyone."""
    if identity.role is Role.ADMIN:
        return Rule.all()
    if identity.user_id is None:
        return Rule.none()
    grants: list[dict[str, Any]] = [{"id": _own(identity)}]
    if identity.role is Role.MANAGER and identity.territory_id is not None:
        grants.append({"territory_id": [identity.territory_id]})
    return Rule.any_of(*grants)


# --- decisions ------------------------------------------------------------------------------

# In the order `require_role` names them.
KNOWLEDGE_EDITORS = (Role.TRAINER, Role.ADMIN)
CALL_UPLOADERS = (Role.REP, Role.MANAGER, Role.ADMIN)


def can_add_knowledge(identity: Identity) -> bool:
    return identity.role in KNOWLEDGE_EDITORS


def can_change_document(session: Session, identity: Identity, document: KnowledgeDocument) -> bool:
    """Replace or remove a document: editors, for the documents they can see."""
    return can_add_knowledge(identity) and documents(identity).bound(session).allows(document)


def require_role(identity: Identity, *roles: Role, action: str = "do that") -> None:
    if identity.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise PermissionDenied(f"Only {allowed} users can {action}.")


# --- access-checked lookups -----------------------------------------------------------------


def visible_account_ids(session: Session, identity: Identity) -> set[int] | None:
    """Ids of visible accounts, or None meaning all (admin)."""
    rule = accounts(identity)
    if rule.everything:
        return None
    return set(session.scalars(select(Account.id).where(rule.clause(Account))))


def _visible(session: Session, rule: Rule, entity: type[Any], record_id: int) -> bool:
    return session.scalar(select(entity.id).where(entity.id == record_id, rule.clause(entity))) is not None


def find_account(session: Session, identity: Identity, name_or_id: str | int) -> Account:
    """An account by id, exact name, English name or unique partial name, checked for access.

    An account the caller may not see is denied when they named it exactly (or by id), and
    not revealed at all for a partial name: never its data either way.
    """
    rule = accounts(identity)
    ref = str(name_or_id).strip()
    account: Account | None = None
    if ref.isdigit():
        account = session.get(Account, int(ref))
    if account is None:
        account = session.scalar(select(Account).where((Account.name == ref) | (Account.name_en.ilike(ref))))
    if account is None:
        matches = list(
            session.scalars(
                select(Account).where(Account.name.ilike(f"%{ref}%") | Account.name_en.ilike(f"%{ref}%")).limit(5)
            )
        )
        visible = [a for a in matches if _visible(session, rule, Account, a.id)]
        if len(visible) == 1:
            return visible[0]
        if len(visible) > 1:
            names = ", ".join(a.name for a in visible)
            raise NotFound(f"'{ref}' matches several accounts: {names}. Please name one.")
        # Partial matches among accounts the caller can't see are not revealed.
        raise NotFound(f"No account you can see matches '{ref}'.")
    if not _visible(session, rule, Account, account.id):
        raise PermissionDenied(f"You don't have access to account '{ref}'.")
    return account


def find_territory(
    session: Session, identity: Identity, name: str | None = None, *, rule: Rule | None = None
) -> Territory:
    """A territory by English or Chinese name (default: the caller's own), checked against
    `rule` (default: the territories whose views the caller may open)."""
    if name is None:
        if identity.territory_id is None:
            raise NotFound("You have no territory. Name one, e.g. `East China`.")
        territory = session.get(Territory, identity.territory_id)
    else:
        ref = name.strip()
        territory = session.scalar(
            select(Territory).where(
                Territory.name.ilike(ref) | (Territory.name_zh == ref) | Territory.name.ilike(f"%{ref}%")
            )
        )
    if territory is None:
        raise NotFound(f"No territory named '{name}'.")
    if not (rule or territories(identity)).allows(territory):
        raise PermissionDenied(f"You don't have access to territory '{territory.name}'.")
    return territory
