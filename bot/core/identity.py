"""Who is asking: the caller's identity, bound by the server for a whole turn.

What an identity may see and change is decided in one place, `bot.core.access`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import NotFound
from bot.core.models import Role, User

__all__ = ["Identity", "identity_for_platform_user", "resolve_user"]


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
