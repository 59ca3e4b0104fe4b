"""Synthetic deals for the insights tests (no database)."""

from __future__ import annotations

from datetime import date, timedelta

from insights._data import Deal, Event


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
        id=number, name=f"deal {number}", account_id=number % 7, account=f"acct {number % 7}", territory_id=1,
        owner_id=1, owner="rep", product="SKU|Product", currency="USD", segment=segment, key_account=False,
        competitor=competitor, created=created, events=tuple(events),
    )


def truncated(deals: list[Deal], as_of: date) -> list[Deal]:
    """The deals as a database frozen at the end of `as_of` would hold them."""
    kept = []
    for d in deals:
        events = tuple(e for e in d.events if e.day <= as_of)
        if events:
            kept.append(Deal(**{**d.__dict__, "events": events}))
    return kept
