"""Helpers for the insights tests: synthetic deals (no database) and one unit of work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from bot.app import App
from insights._data import Deal, Event

P = ParamSpec("P")
R = TypeVar("R")


def in_session(app: App, function: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call an insights function the way the CLI and the agent do: in one unit of work of its own."""
    with app.db.session() as session:
        return function(session, *args, **kwargs)


def deal(
    number: int,
    created: date,
    path: list[tuple[int, str]],
    amount: float = 100.0,
    close_after: int = 60,
    segment: str = "mid_market",
    competitor: str | None = None,
    closes: list[int] | None = None,
) -> Deal:
    """path: (days after creation, stage) moves; the first move is usually (0, 'prospecting').
    closes: expected-close offsets (days after creation) per move, default close_after."""
    events = []
    for i, (offset, stage) in enumerate(path):
        day = created + timedelta(days=offset)
        close_offset = closes[i] if closes else close_after
        close = day if stage in ("closed_won", "closed_lost") else created + timedelta(days=close_offset)
        events.append(Event(day, stage, amount, close))
    return Deal(
        id=number,
        name=f"deal {number}",
        account_id=number % 7,
        account=f"acct {number % 7}",
        territory_id=1,
        owner_id=1,
        product="SKU|Product",
        segment=segment,
        key_account=False,
        competitor=competitor,
        created=created,
        events=tuple(events),
    )


def truncated(deals: list[Deal], as_of: date) -> list[Deal]:
    """The deals as a database frozen at the end of `as_of` would hold them."""
    kept = []
    for d in deals:
        events = tuple(e for e in d.events if e.day <= as_of)
        if events:
            kept.append(Deal(**{**d.__dict__, "events": events}))
    return kept
