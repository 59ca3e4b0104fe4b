"""Risk rules over signals (insights/risk_rules.yaml): evaluate, store alerts once, list per scope."""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import access
from bot.core.errors import ConfigurationError, InvalidInput, PermissionDenied
from bot.core.identity import Identity
from bot.core.models import Account, RiskAlert, Role, SignalEvent, Territory, User

__all__ = ["RULES_FILE", "AlertView", "Condition", "RiskRule", "evaluate", "list_alerts", "load_rules"]

RULES_FILE = Path(__file__).with_name("risk_rules.yaml")
COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}

Figure: TypeAlias = float | int | None  # what a condition measured (None: nothing in the window)


@dataclass(frozen=True)
class Condition:
    signal: str
    kind: str  # consecutive_days | latest | count
    within_days: int
    days: int = 0
    comparator: str = ""
    threshold: float = 0.0
    minimum: int = 0


@dataclass(frozen=True)
class RiskRule:
    id: str
    severity: str
    conditions: tuple[Condition, ...]
    message: dict[str, str]
    remedies: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class AlertView:
    id: int
    rule_id: str
    severity: str
    account: str | None
    territory: str | None
    message: str
    remedies: list[str]
    evidence: dict[str, Any]
    status: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_rules(path: Path = RULES_FILE) -> list[RiskRule]:
    """Parse and validate the rules file; a mistake names the rule and what is wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"Risk rules file {path.name} can't be read: {exc}") from exc
    rules = []
    for raw in data.get("rules") or []:
        rule_id = str(raw.get("id") or "")
        if not rule_id:
            raise ConfigurationError(f"A rule in {path.name} has no id.")
        severity = raw.get("severity", "medium")
        if severity not in ("low", "medium", "high"):
            raise ConfigurationError(f"Rule {rule_id}: severity must be low, medium or high.")
        conditions = []
        for c in raw.get("conditions") or []:
            signal, within = c.get("signal"), int(c.get("within_days", 7))
            if not signal:
                raise ConfigurationError(f"Rule {rule_id}: a condition has no signal.")
            if "consecutive_days" in c:
                conditions.append(Condition(signal, "consecutive_days", within, days=int(c["consecutive_days"])))
            elif "latest" in c:
                ((op, value),) = dict(c["latest"]).items()
                if op not in COMPARATORS:
                    raise ConfigurationError(
                        f"Rule {rule_id}: comparator '{op}' is not one of {', '.join(COMPARATORS)}."
                    )
                conditions.append(Condition(signal, "latest", within, comparator=op, threshold=float(value)))
            elif "count" in c:
                conditions.append(Condition(signal, "count", within, minimum=int(c["count"])))
            else:
                raise ConfigurationError(
                    f"Rule {rule_id}: condition on {signal} needs consecutive_days, latest or count."
                )
        if not conditions:
            raise ConfigurationError(f"Rule {rule_id} has no conditions.")
        rules.append(
            RiskRule(
                rule_id, severity, tuple(conditions), dict(raw.get("message") or {}), tuple(raw.get("remedies") or ())
            )
        )
    return rules


def _check(condition: Condition, events: list[tuple[date, float]], today: date) -> tuple[bool, Figure]:
    """Whether one condition holds, and the figure that shows it (for the message)."""
    window_start = today - timedelta(days=condition.within_days)
    if condition.kind == "consecutive_days":
        days = sorted({d for d, _ in events if d <= today})
        best, run, last_day = 0, 0, None
        for day in days:
            run = run + 1 if last_day is not None and day - last_day == timedelta(days=1) else 1
            last_day = day
            if day >= window_start:
                best = max(best, run)
        return best >= condition.days, best
    recent = [(d, v) for d, v in events if window_start <= d <= today]
    if condition.kind == "count":
        return len(recent) >= condition.minimum, len(recent)
    if not recent:
        return False, None
    latest = max(recent, key=lambda e: e[0])[1]
    return COMPARATORS[condition.comparator](latest, condition.threshold), latest


def evaluate(session: Session, today: date | None = None, rules: list[RiskRule] | None = None) -> list[AlertView]:
    """Evaluate every rule for every account; store new alerts in `session` (an open alert of
    the same rule for the same account is not repeated). Returns the alerts created by this run.
    No permission check: it is the system's run (callers decide who may start it)."""
    day = today or date.today()
    rules = rules if rules is not None else load_rules()
    signals = {c.signal for r in rules for c in r.conditions}
    horizon = max((c.within_days + c.days for r in rules for c in r.conditions), default=7) + 1
    since = datetime.combine(day - timedelta(days=horizon), datetime.min.time())
    until = datetime.combine(day + timedelta(days=1), datetime.min.time())
    created: list[AlertView] = []
    by_account: dict[int, dict[str, list[tuple[date, float]]]] = defaultdict(lambda: defaultdict(list))
    for event in session.scalars(
        select(SignalEvent).where(
            SignalEvent.signal_type.in_(signals), SignalEvent.occurred_at >= since, SignalEvent.occurred_at < until
        )
    ):
        by_account[event.account_id][event.signal_type].append((event.occurred_at.date(), event.value))
    open_alerts = {
        (a.rule_id, a.account_id) for a in session.scalars(select(RiskAlert).where(RiskAlert.status == "open"))
    }
    for account_id, series in sorted(by_account.items()):
        for rule in rules:
            if (rule.id, account_id) in open_alerts:
                continue
            figures: dict[str, Figure] = {}
            fired = True
            for condition in rule.conditions:
                ok, figure = _check(condition, series.get(condition.signal, []), day)
                key = f"{condition.signal}_days" if condition.kind == "consecutive_days" else condition.signal
                figures[key] = figure
                if not ok:
                    fired = False
                    break
            if not fired:
                continue
            account = session.get(Account, account_id)
            if account is None:
                continue
            alert = RiskAlert(
                rule_id=rule.id,
                scope_type="account",
                scope_key=account.name,
                account_id=account.id,
                territory_id=account.territory_id,
                severity=rule.severity,
                message=_format(rule.message.get("en", rule.id), figures),
                remedies=[dict(r) for r in rule.remedies],
                evidence={
                    "figures": figures,
                    "evaluated_on": day.isoformat(),
                    "message_zh": _format(rule.message.get("zh", ""), figures),
                },
            )
            session.add(alert)
            session.flush()
            open_alerts.add((rule.id, account_id))
            created.append(_view(session, alert, "en"))
    return created


def _format(template: str, figures: dict[str, Figure]) -> str:
    try:
        return template.format(**{k: (v if v is not None else 0) for k, v in figures.items()})
    except (KeyError, ValueError, IndexError):
        return template


def _view(session: Session, alert: RiskAlert, language: str) -> AlertView:
    account = session.get(Account, alert.account_id) if alert.account_id else None
    territory = session.get(Territory, alert.territory_id) if alert.territory_id else None
    zh = language == "zh"
    message = (alert.evidence or {}).get("message_zh") if zh else None
    return AlertView(
        id=alert.id,
        rule_id=alert.rule_id,
        severity=alert.severity,
        account=account.name if account else None,
        territory=territory.name if territory else None,
        message=message or alert.message,
        remedies=[r.get("zh" if zh else "en") or r.get("en", "") for r in (alert.remedies or [])],
        evidence=dict(alert.evidence or {}),
        status=alert.status,
        created_at=alert.created_at.isoformat() if alert.created_at else "",
    )


def list_alerts(
    session: Session, identity: Identity, scope: str | None = None, *, include_closed: bool = False
) -> list[AlertView]:
    """Open risk alerts the caller may see, optionally for one territory, rep or account
    ('territory:NAME', 'rep:HANDLE', 'account:NAME'); high severity first."""
    access.require_role(identity, Role.REP, Role.MANAGER, Role.ADMIN, action="see risk alerts")
    # Every alert is about an account (evaluate makes no others): the join keeps it that way.
    query = (
        select(RiskAlert)
        .join(Account, RiskAlert.account_id == Account.id)
        .where(access.alerts(identity).clause(RiskAlert))
    )
    if not include_closed:
        query = query.where(RiskAlert.status == "open")
    if scope:
        kind, _, name = scope.partition(":")
        name = name.strip()
        if kind == "territory":
            query = query.where(RiskAlert.territory_id == access.find_territory(session, identity, name).id)
        elif kind == "account":
            query = query.where(RiskAlert.account_id == access.find_account(session, identity, name).id)
        elif kind == "rep":
            user = session.scalar(select(User).where(User.handle.ilike(name)))
            if user is None:
                raise InvalidInput(f"No rep named '{name}'.")
            if not access.team(identity).bound(session).allows(user):
                raise PermissionDenied(f"You can't see {user.handle}'s risk alerts.")
            query = query.where(Account.owner_id == user.id)
        else:
            raise InvalidInput(f"Scope '{scope}' is not understood: use territory:, rep: or account:.")
    alerts = sorted(session.scalars(query), key=lambda a: (SEVERITY_ORDER.get(a.severity, 3), -a.id))
    return [_view(session, a, identity.language) for a in alerts]
