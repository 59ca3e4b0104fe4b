"""In-memory views of deals and their stage histories, and scope resolution with permissions.

The forecast engine works on these plain values (not ORM rows) so it can replay any past
date honestly: `Deal.state_at(day)` only looks at stage moves made on or before that day.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.core import access
from bot.core.errors import InvalidInput, NotFound, PermissionDenied
from bot.core.identity import Identity
from bot.core.models import Account, Opportunity, Product, Role, StageChange, Target, Territory, User

__all__ = ["LOST", "OPEN", "WON", "Deal", "Event", "Scope", "data_version", "load_deals", "resolve_scope", "target_for"]

OPEN = ("prospecting", "qualification", "discovery", "proposal", "negotiation")
WON, LOST = "closed_won", "closed_lost"
SCOPE_TYPES = ("territory", "rep", "account", "product")


@dataclass(frozen=True)
class Event:
    day: date
    stage: str
    amount: float
    close: date  # expected close date as of this move


@dataclass(frozen=True)
class Deal:
    id: int
    name: str
    account_id: int
    account: str
    territory_id: int
    owner_id: int
    product: str  # "SKU|name", "" without a product
    segment: str
    key_account: bool
    competitor: str | None
    created: date
    events: tuple[Event, ...]

    def state_at(self, day: date) -> Event | None:
        """The deal as it stood at the end of `day` (None: not created yet)."""
        position = bisect_right([e.day for e in self.events], day)
        return self.events[position - 1] if position else None

    @property
    def won(self) -> Event | None:
        last = self.events[-1] if self.events else None
        return last if last is not None and last.stage == WON else None

    @property
    def closed(self) -> Event | None:
        last = self.events[-1] if self.events else None
        return last if last is not None and last.stage in (WON, LOST) else None

    def reached(self, stage: str, by: date) -> bool:
        return any(e.stage == stage and e.day <= by for e in self.events)


def load_deals(session: Session) -> list[Deal]:
    """Every opportunity with its full stage history (two queries)."""
    rows = session.execute(
        select(Opportunity, Account, Product.sku, Product.name)
        .join(Account, Opportunity.account_id == Account.id)
        .outerjoin(Product, Opportunity.product_id == Product.id)
    ).all()
    history: dict[int, list[Event]] = {}
    for change in session.scalars(select(StageChange).order_by(StageChange.changed_at, StageChange.id)):
        history.setdefault(change.opportunity_id, []).append(
            Event(change.changed_on, change.to_stage.value, change.amount, change.expected_close_date)
        )
    deals = []
    for opp, account, sku, product_name in rows:
        events = history.get(opp.id) or [Event(opp.created_date, opp.stage.value, opp.amount, opp.expected_close_date)]
        deals.append(
            Deal(
                id=opp.id,
                name=opp.name,
                account_id=account.id,
                account=account.name,
                territory_id=account.territory_id,
                owner_id=opp.owner_id,
                product=f"{sku}|{product_name}" if sku else "",
                segment=account.segment,
                key_account=account.is_key_account,
                competitor=opp.competitor,
                created=opp.created_date,
                events=tuple(sorted(events, key=lambda e: e.day)),
            )
        )
    return deals


def data_version(session: Session) -> tuple[float, ...]:
    """Changes whenever deals or their histories change (cache key for learned dynamics)."""
    changes = session.execute(select(func.count(StageChange.id), func.max(StageChange.id))).one()
    # Sums catch in-place edits (a CRM re-import changing an amount or an owner).
    opps = session.execute(
        select(func.count(Opportunity.id), func.sum(Opportunity.amount), func.sum(Opportunity.owner_id))
    ).one()
    accounts = session.execute(select(func.sum(Account.owner_id), func.sum(Account.territory_id))).one()
    return tuple(float(v or 0) for v in (*changes, *opps, *accounts))


@dataclass(frozen=True)
class Scope:
    """A resolved, permission-checked forecast scope."""

    scope_type: str
    key: str  # canonical key stored in targets/snapshots: territory name, rep handle, account name, product sku
    label: str
    currency: str
    account_ids: frozenset[int] | None  # None: no account restriction beyond the other fields
    owner_id: int | None = None
    territory_id: int | None = None
    product: str | None = None

    @property
    def text(self) -> str:
        return f"{self.scope_type}:{self.key}"

    def includes(self, deal: Deal) -> bool:
        if self.account_ids is not None and deal.account_id not in self.account_ids:
            return False
        if self.owner_id is not None and deal.owner_id != self.owner_id:
            return False
        if self.territory_id is not None and deal.territory_id != self.territory_id:
            return False
        return self.product is None or deal.product.split("|")[0] == self.product


def _territory_currency(session: Session, territory_id: int | None) -> str:
    if territory_id is None:
        return "USD"
    return session.scalar(select(Territory.currency).where(Territory.id == territory_id)) or "USD"


def resolve_scope(session: Session, identity: Identity, scope: str) -> Scope:
    """Parse 'territory:NAME' | 'rep:HANDLE' | 'account:NAME' | 'product:SKU_OR_NAME' and check
    the caller may see it (`bot.core.access`): a rep their own book, a manager their territory
    and its people, an admin all."""
    access.require_role(identity, Role.REP, Role.MANAGER, Role.ADMIN, action="see forecasts")
    kind, _, name = scope.partition(":")
    kind, name = kind.strip().lower(), name.strip()
    if kind not in SCOPE_TYPES or not name:
        raise InvalidInput(
            f"Scope '{scope}' is not understood: use territory:NAME, rep:HANDLE, account:NAME or product:SKU."
        )
    if kind == "territory":
        if identity.role is Role.REP:
            raise PermissionDenied(f"Reps see their own book: ask for rep:{identity.handle} instead of a territory.")
        territory = access.find_territory(session, identity, name, rule=access.territory_forecasts(identity))
        return Scope("territory", territory.name, territory.name, territory.currency, None, territory_id=territory.id)
    if kind == "rep":
        user = session.scalar(
            select(User).where(User.handle.ilike(name) | User.email.ilike(name) | User.name.ilike(name))
        )
        if user is None or user.role is not Role.REP:
            raise NotFound(f"No rep named '{name}'.")
        if not access.team(identity).bound(session).allows(user):
            raise PermissionDenied(f"You can't see {user.handle}'s forecast.")
        return Scope(
            "rep", user.handle, user.name, _territory_currency(session, user.territory_id), None, owner_id=user.id
        )
    if kind == "account":
        account = access.find_account(session, identity, name)
        return Scope(
            "account",
            account.name,
            account.name,
            _territory_currency(session, account.territory_id),
            frozenset({account.id}),
        )
    return _product_scope(session, identity, name)


def _product_scope(session: Session, identity: Identity, name: str) -> Scope:
    """A product within the caller's book: the accounts they may see."""
    product = session.scalar(
        select(Product).where(
            or_(
                Product.sku.ilike(name),
                Product.name.ilike(name),
                Product.name_zh == name,
                Product.name.ilike(f"%{name}%"),
            )
        )
    )
    if product is None:
        raise NotFound(f"No product named '{name}'.")
    # A product forecast covers the caller's book only: the key says whose, so tracked
    # accuracy never mixes a rep's product forecast with their manager's.
    if identity.role is Role.REP:
        key = f"{product.sku}@rep:{identity.handle}"
    elif identity.role is Role.MANAGER:
        if identity.territory_id is None:
            raise NotFound("You have no territory, so there is no book to forecast a product in.")
        territory = access.find_territory(session, identity, rule=access.territory_forecasts(identity))
        key = f"{product.sku}@territory:{territory.name}"
    else:
        key = product.sku
    visible = access.visible_account_ids(session, identity)  # None: every account (admin)
    currencies = set(
        session.scalars(
            select(Territory.currency)
            .join(Account, Account.territory_id == Territory.id)
            .where(access.accounts(identity).clause(Account))
        )
    )
    if len(currencies) > 1 and identity.role is Role.ADMIN:
        raise InvalidInput(
            f"{product.name} sells in several currencies ({', '.join(sorted(currencies))}); "
            "forecast it per territory, e.g. with `--as` a manager or a territory's rep."
        )
    currency = currencies.pop() if currencies else product.currency
    account_ids = frozenset(visible) if visible is not None else None
    return Scope("product", key, product.name, currency, account_ids, product=product.sku)


def target_for(session: Session, scope: Scope, period_label: str) -> float | None:
    target = session.scalar(
        select(Target).where(
            Target.scope_type == scope.scope_type, Target.scope_key == scope.key, Target.period == period_label
        )
    )
    if target is not None:
        return target.amount
    if "-Q" not in period_label:
        # A month without its own quota gets a third of its quarter's.
        year, month = period_label.split("-")
        quarter = f"{year}-Q{(int(month) - 1) // 3 + 1}"
        quarterly = target_for(session, scope, quarter)
        return quarterly / 3 if quarterly is not None else None
    return None
