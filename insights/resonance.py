"""Resonance scores: how strongly an account is leaning in, from time-decayed weighted buyer
signals (the 37 dimensions of insights/signals.yaml), its buyer type, and next actions."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import access
from bot.core.errors import ConfigurationError
from bot.core.identity import Identity
from bot.core.models import Role, SignalEvent

__all__ = [
    "Dimensions",
    "NextAction",
    "ResonanceResult",
    "SignalContribution",
    "SignalScore",
    "Trigger",
    "load_dimensions",
    "resonance",
    "score_signals",
    "scores_for_accounts",
]

SIGNALS_FILE = Path(__file__).with_name("signals.yaml")
ACTIONS_FILE = Path(__file__).with_name("next_actions.yaml")
VALUE_CAP = 4.0  # one burst of page views counts, but a bot hammering a page doesn't dominate


@dataclass(frozen=True)
class NextAction:
    en: str
    zh: str


@dataclass(frozen=True)
class Trigger:
    """When the leading buyer type's score reaches `min_score`, propose `actions`."""

    min_score: float
    actions: tuple[NextAction, ...]


@dataclass(frozen=True)
class Dimensions:
    weights: dict[str, float]
    half_lives: dict[str, float]
    buyer_types: dict[str, tuple[str, ...]]
    names: dict[str, dict[str, str]]
    type_names: dict[str, dict[str, str]]
    triggers: dict[str, Trigger]
    saturation: float


@lru_cache(maxsize=1)
def load_dimensions() -> Dimensions:
    try:
        spec = yaml.safe_load(SIGNALS_FILE.read_text(encoding="utf-8"))
        actions = yaml.safe_load(ACTIONS_FILE.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"Resonance data files can't be read: {exc}") from exc
    dims = spec["dimensions"]
    return Dimensions(
        weights={k: float(v["weight"]) for k, v in dims.items()},
        half_lives={k: float(v["half_life_days"]) for k, v in dims.items()},
        buyer_types={k: tuple(v["buyer_types"]) for k, v in dims.items()},
        names={k: {"en": v["en"], "zh": v["zh"]} for k, v in dims.items()},
        type_names={k: dict(v) for k, v in spec["buyer_types"].items()},
        triggers={
            buyer_type: Trigger(
                float(spec.get("min_score", 101)),
                tuple(NextAction(str(a["en"]), str(a["zh"])) for a in spec.get("actions") or ()),
            )
            for buyer_type, spec in (actions.get("triggers") or {}).items()
        },
        saturation=float(actions.get("saturation", 4.0)),
    )


@dataclass(frozen=True)
class SignalContribution:
    signal: str
    name_en: str
    name_zh: str
    contribution: float  # share of the decayed weighted mass, 0..1
    occurrences: int


@dataclass(frozen=True)
class ResonanceResult:
    account: str
    as_of: str
    score: float
    buyer_type: str | None
    buyer_type_en: str | None
    buyer_type_zh: str | None
    buyer_type_shares: dict[str, float]
    top_signals: list[SignalContribution]
    change_7d: float
    change_30d: float
    next_actions: list[NextAction] = field(default_factory=list)
    triggered: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SignalScore:
    score: float
    mass_by_signal: dict[str, float]
    count_by_signal: dict[str, int]
    type_mass: dict[str, float]


def score_signals(
    events: Iterable[tuple[str, float, datetime]], at: datetime, dims: Dimensions | None = None
) -> SignalScore:
    """Score events (signal, value, when) as of `at`: each counts weight * value (capped) *
    0.5 ** (age / half-life); the mass maps to 0-100 with diminishing returns."""
    dims = dims or load_dimensions()
    mass: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    type_mass: dict[str, float] = defaultdict(float)
    for signal, value, when in events:
        if signal not in dims.weights or when > at:
            continue
        age_days = (at - when).total_seconds() / 86400
        amount = dims.weights[signal] * min(max(value, 0.0), VALUE_CAP) * 0.5 ** (age_days / dims.half_lives[signal])
        mass[signal] += amount
        counts[signal] += 1
        types = dims.buyer_types[signal]
        for buyer_type in types:
            type_mass[buyer_type] += amount / len(types)
    total = sum(mass.values())
    score = 100.0 * (1.0 - math.exp(-total / dims.saturation))
    return SignalScore(round(score, 1), dict(mass), dict(counts), dict(type_mass))


def _events(
    session: Session, account_ids: Iterable[int], since: datetime
) -> dict[int, list[tuple[str, float, datetime]]]:
    dims = load_dimensions()
    found: dict[int, list[tuple[str, float, datetime]]] = defaultdict(list)
    for event in session.scalars(
        select(SignalEvent).where(
            SignalEvent.account_id.in_(list(account_ids)),
            SignalEvent.occurred_at >= since,
            SignalEvent.signal_type.in_(list(dims.weights)),
        )
    ):
        when = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=UTC)
        found[event.account_id].append((event.signal_type, event.value, when))
    return found


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=UTC)


def scores_for_accounts(
    session: Session, account_ids: Iterable[int], today: date
) -> dict[int, tuple[float, float, float]]:
    """(score today, change over 7 days, change over 30 days) per account (no permission check:
    callers pass only accounts the user may see)."""
    ids = list(account_ids)
    horizon = _end_of(today) - timedelta(days=365)
    events = _events(session, ids, horizon)
    result = {}
    for account_id in ids:
        rows = events.get(account_id, [])
        now = score_signals(rows, _end_of(today)).score
        week = score_signals(rows, _end_of(today - timedelta(days=7))).score
        month = score_signals(rows, _end_of(today - timedelta(days=30))).score
        result[account_id] = (now, round(now - week, 1), round(now - month, 1))
    return result


def resonance(session: Session, identity: Identity, account: str, *, today: date | None = None) -> ResonanceResult:
    """Resonance score (0-100) of one account the caller may see: buyer type with its top
    signals, the 7- and 30-day change, and the next actions its buyer type triggers."""
    access.require_role(identity, Role.REP, Role.MANAGER, Role.ADMIN, action="see resonance scores")
    day = today or date.today()
    dims = load_dimensions()
    found = access.find_account(session, identity, account)
    rows = _events(session, [found.id], _end_of(day) - timedelta(days=365)).get(found.id, [])
    now = score_signals(rows, _end_of(day), dims)
    week = score_signals(rows, _end_of(day - timedelta(days=7)), dims)
    month = score_signals(rows, _end_of(day - timedelta(days=30)), dims)
    total = sum(now.mass_by_signal.values())
    type_total = sum(now.type_mass.values())
    leading = max(now.type_mass, key=lambda t: now.type_mass[t]) if now.type_mass else None
    top = sorted(now.mass_by_signal.items(), key=lambda kv: kv[1], reverse=True)
    if leading is not None:
        # The signals behind the buyer type first: they explain the label.
        top = sorted(top, key=lambda kv: (leading not in dims.buyer_types[kv[0]], -kv[1]))
    top_signals = [
        SignalContribution(
            k, dims.names[k]["en"], dims.names[k]["zh"], round(v / total, 3) if total else 0.0, now.count_by_signal[k]
        )
        for k, v in top[:5]
    ]
    trigger = dims.triggers.get(leading) if leading is not None else None
    triggered = trigger is not None and now.score >= trigger.min_score
    return ResonanceResult(
        account=found.name,
        as_of=day.isoformat(),
        score=now.score,
        buyer_type=leading,
        buyer_type_en=dims.type_names[leading]["en"] if leading else None,
        buyer_type_zh=dims.type_names[leading]["zh"] if leading else None,
        buyer_type_shares={k: round(v / type_total, 3) for k, v in sorted(now.type_mass.items(), key=lambda kv: -kv[1])}
        if type_total
        else {},
        top_signals=top_signals,
        change_7d=round(now.score - week.score, 1),
        change_30d=round(now.score - month.score, 1),
        next_actions=list(trigger.actions) if trigger is not None and triggered else [],
        triggered=triggered,
    )
