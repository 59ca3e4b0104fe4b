"""Who is asking, and what they may see. Permissions live here, in code, never in a prompt.

- a rep sees their own accounts and calls;
- a manager sees their territory's accounts, calls and reps;
- a trainer sees public knowledge and edits the knowledge base;
- an admin sees everything;
- an unknown chat user sees public knowledge only.

Every engine (retrieval, insights, calls, agent tools) takes an `Identity` and applies these
rules itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from bot.errors import NotFound, PermissionDenied
from bot.models import Account, Call, Role, Territory, User

__all__ = [
    "Identity",
    "resolve_user",
    "identity_for_platform_user",
    "account_clause",
    "call_clause",
    "get_account",
    "find_account",
    "get_territory",
    "require_role",
    "visible_account_ids",
    "can_edit_knowledge",
]

KNOWLEDGE_EDITORS = frozenset({Role.TRAINER, Role.ADMIN})


@dataclass(frozen=True)
class Identity:
    """The caller, bound by the server for a whole turn; never filled in by a model."""

    user_id: int | None
    handle: str
    name: str
    role: Role | None  # None for an unknown chat user
    territory_id: int | None = None
    language: str = "en"

    @property
    def is_known(self) -> bool:
        return self.user_id is not None

    @classmethod
    def from_user(cls, user: User) -> Identity:
        return cls(
            user_id=user.id,
            handle=user.handle,
            name=user.name,
            role=user.role,
            territory_id=user.territory_id,
            language=user.language,
        )

    @classmethod
    def anonymous(cls, platform: str, external_id: str, language: str = "en") -> Identity:
        return cls(user_id=None, handle=f"{platform}:{external_id}", name="guest", role=None, language=language)

    def describe(self) -> str:
        return f"{self.name} ({self.role.value if self.role else 'unknown user'})"


def resolve_user(session: Session, who: str) -> User:
    """Find a user by handle or email (case-insensitive)."""
    who = who.strip()
    user = session.scalar(select(User).where((User.handle == who) | (User.email == who.lower())))
    if user is None:
        user = session.scalar(select(User).where(User.handle.ilike(who) | User.email.ilike(who)))
    if user is None or not user.active:
        raise NotFound(f"No active user '{who}'. Use a handle or email from `copilot doctor --users`.")
    return user


def identity_for_platform_user(
    session: Session,
    platform: str,
    external_id: str,
    email: str | None = None,
    language: str = "en",
) -> Identity:
    """Map a chat identity to a copilot user: stored id first, then email (linking it on the way)."""
    column = {"slack": User.slack_user_id, "wecom": User.wecom_userid}.get(platform)
    user = session.scalar(select(User).where(column == external_id)) if column is not None else None
    if user is None and email:
        user = session.scalar(select(User).where(User.email.ilike(email.strip())))
        if user is not None and column is not None and getattr(user, column.key) is None:
            setattr(user, column.key, external_id)
    if user is None or not user.active:
        return Identity.anonymous(platform, external_id, language)
    return Identity.from_user(user)


def account_clause(identity: Identity) -> ColumnElement[bool]:
    """SQL filter on Account for what this identity may see."""
    if identity.role is Role.ADMIN:
        return true()
    if identity.role is Role.MANAGER and identity.territory_id is not None:
        return Account.territory_id == identity.territory_id
    if identity.role is Role.REP and identity.user_id is not None:
        return Account.owner_id == identity.user_id
    return false()


def call_clause(identity: Identity) -> ColumnElement[bool]:
    """SQL filter on Call: own calls; a manager's territory's reps' calls; admin all."""
    if identity.role is Role.ADMIN:
        return true()
    if identity.user_id is None:
        return false()
    own = Call.owner_id == identity.user_id
    if identity.role is Role.MANAGER and identity.territory_id is not None:
        team = select(User.id).where(User.territory_id == identity.territory_id)
        return or_(own, Call.owner_id.in_(team))
    return own


def visible_account_ids(session: Session, identity: Identity) -> set[int] | None:
    """Ids of visible accounts, or None meaning all (admin)."""
    if identity.role is Role.ADMIN:
        return None
    return set(session.scalars(select(Account.id).where(account_clause(identity))))


def find_account(session: Session, identity: Identity, name_or_id: str | int) -> Account:
    """An account by id, exact name, English name or unique partial name, checked for access.

    An account the caller may not see is denied when they named it exactly (or by id), and
    not revealed at all for a partial name: never its data either way.
    """
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
        visible = [a for a in matches if _can_see(session, identity, a)]
        if len(visible) == 1:
            return visible[0]
        if len(visible) > 1:
            names = ", ".join(a.name for a in visible)
            raise NotFound(f"'{ref}' matches several accounts: {names}. Please name one.")
        # Partial matches among accounts the caller can't see are not revealed.
        raise NotFound(f"No account you can see matches '{ref}'.")
    if not _can_see(session, identity, account):
        raise PermissionDenied(f"You don't have access to account '{ref}'.")
    return account


get_account = find_account


def _can_see(session: Session, identity: Identity, account: Account) -> bool:
    return session.scalar(select(Account.id).where(Account.id == account.id, account_clause(identity))) is not None


def get_territory(session: Session, identity: Identity, name: str | None = None) -> Territory:
    """A territory by English or Chinese name (default: the caller's own), checked for access."""
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
    if identity.role is Role.ADMIN:
        return territory
    if identity.role in (Role.MANAGER, Role.REP) and identity.territory_id == territory.id:
        return territory
    raise PermissionDenied(f"You don't have access to territory '{territory.name}'.")


def require_role(identity: Identity, *roles: Role, action: str = "do that") -> None:
    if identity.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise PermissionDenied(f"Only {allowed} users can {action}.")


def can_edit_knowledge(identity: Identity) -> bool:
    return identity.role in KNOWLEDGE_EDITORS
