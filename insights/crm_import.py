"""CRM import from CSV exports (teams/reps, accounts, opportunities, activities) through a
column-mapping YAML, so a Salesforce- or HubSpot-style export loads without code changes.

Rows are validated one by one; a bad row is reported with its file and line and skipped
(`strict=True` refuses the whole import instead). Records are matched on their CRM id
(`external_id`), so re-importing the same export changes nothing.

All writes happen in the caller's session, one transaction, so an import is never half-done:
the caller's commit is the import's, and an error (a crash included) leaves the caller's
`with app.db.session()` to roll it all back. A dry run, and a strict import with rejected rows,
roll the session back themselves before returning or raising, so nothing is written whatever
the caller does next. Pass a fresh session: that rollback discards everything it holds.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal, TypeAlias

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core import access
from bot.core.errors import ConfigurationError, InvalidInput
from bot.core.identity import Identity
from bot.core.models import (
    Account,
    Opportunity,
    OpportunityStage,
    OpportunityStatus,
    Product,
    Role,
    SignalEvent,
    StageChange,
    Territory,
    User,
)

__all__ = ["MAPPINGS_DIR", "ImportReport", "Reject", "import_crm"]
MAPPINGS_DIR = Path(__file__).with_name("crm_mappings")
ORDER = ("teams", "accounts", "opportunities", "activities")
REQUIRED = {
    "teams": ("handle", "name", "email", "role"),
    "accounts": ("external_id", "name", "territory", "owner"),
    "opportunities": ("external_id", "name", "account", "amount", "stage", "close_date"),
    "activities": ("account", "type", "date"),
}
CRM_PROBABILITY = {
    "prospecting": 0.1,
    "qualification": 0.2,
    "discovery": 0.35,
    "proposal": 0.55,
    "negotiation": 0.8,
    "closed_won": 1.0,
    "closed_lost": 0.0,
}

Outcome: TypeAlias = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class Reject:
    file: str
    line: int
    reason: str


@dataclass
class ImportReport:
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORDER, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORDER, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORDER, 0))
    rejects: list[Reject] = field(default_factory=list)
    dry_run: bool = False

    def count(self, outcome: Outcome, kind: str) -> None:
        {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}[outcome][kind] += 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _RowError(Exception):
    pass


class _Mapping:
    def __init__(self, path: Path) -> None:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"Mapping file {path} can't be read: {exc}") from exc
        self.files: dict[str, dict[str, Any]] = data.get("files") or {}
        if not self.files:
            raise ConfigurationError(f"Mapping {path.name} names no files (files: accounts: {{file:, columns:}}).")
        for kind, spec in self.files.items():
            if kind not in ORDER:
                raise ConfigurationError(f"Mapping {path.name}: unknown file kind '{kind}' (use {', '.join(ORDER)}).")
            missing = [c for c in REQUIRED[kind] if c not in (spec.get("columns") or {})]
            if missing:
                raise ConfigurationError(f"Mapping {path.name}: {kind} needs columns for {', '.join(missing)}.")
        self.stage_map = {str(k).strip().lower(): v for k, v in (data.get("stage_map") or {}).items()}
        self.role_map = {str(k).strip().lower(): v for k, v in (data.get("role_map") or {}).items()}
        self.activity_map = {str(k).strip().lower(): v for k, v in (data.get("activity_map") or {}).items()}
        self.segment_map = {str(k).strip().lower(): v for k, v in (data.get("segment_map") or {}).items()}
        self.date_formats = list(data.get("date_formats") or ["%Y-%m-%d"])
        self.default_currency = data.get("default_currency", "USD")


def import_crm(
    session: Session,
    identity: Identity,
    folder: Path,
    mapping: Path,
    *,
    strict: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """Import a CRM export folder with a mapping file (admin only) into `session`; see the
    module docstring for what is written when."""
    access.require_role(identity, Role.ADMIN, action="import CRM data")
    spec = _Mapping(mapping)
    report = ImportReport(dry_run=dry_run)
    folder = Path(folder)
    for kind in ORDER:
        if kind not in spec.files:
            continue
        file_spec = spec.files[kind]
        path = folder / file_spec["file"]
        if not path.is_file():
            raise InvalidInput(f"{kind}: file {path} not found.")
        columns: dict[str, str] = file_spec["columns"]
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            absent = [columns[c] for c in REQUIRED[kind] if columns[c] not in header]
            if absent:
                raise InvalidInput(
                    f"{path.name}: missing column(s) {', '.join(absent)} (see the mapping {mapping.name})."
                )
            for row in reader:
                values = {field_name: (row.get(source) or "").strip() for field_name, source in columns.items()}
                try:
                    # Importers validate a row completely before writing any of it, so a
                    # rejected row leaves nothing behind (no savepoints: pysqlite's are unsafe).
                    outcome = _IMPORTERS[kind](session, spec, values)
                except _RowError as exc:
                    report.rejects.append(Reject(path.name, reader.line_num, str(exc)))
                    continue
                report.count(outcome, kind)
    if strict and report.rejects:
        session.rollback()
        raise InvalidInput(
            f"{len(report.rejects)} row(s) rejected, nothing imported (strict): "
            + "; ".join(f"{r.file}:{r.line} {r.reason}" for r in report.rejects[:5])
        )
    if dry_run:
        session.rollback()
    return report


def _required(values: dict[str, str], *names: str) -> None:
    for name in names:
        if not values.get(name):
            raise _RowError(f"'{name}' is empty")


def _date(spec: _Mapping, text: str, name: str) -> date:
    value = text.strip()
    for fmt in spec.date_formats:
        for candidate in (value, value[:10]):
            try:
                return datetime.strptime(candidate, fmt).date()
            except ValueError:
                continue
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        raise _RowError(f"{name} '{text}' is not a date ({', '.join(spec.date_formats)})") from None


def _number(text: str, name: str) -> float:
    try:
        value = float(text.replace(",", "").replace("$", "").replace("¥", "").strip())
    except ValueError:
        raise _RowError(f"{name} '{text}' is not a number") from None
    if value < 0:
        raise _RowError(f"{name} must not be negative")
    return value


def _user(session: Session, ref: str) -> User:
    user = session.scalar(select(User).where((User.handle == ref) | (User.email.ilike(ref))))
    if user is None:
        raise _RowError(f"unknown user '{ref}' (import teams first)")
    return user


def _territory(session: Session, spec: _Mapping, name: str, currency: str | None) -> Territory:
    territory = session.scalar(select(Territory).where(Territory.name.ilike(name) | (Territory.name_zh == name)))
    if territory is None:
        territory = Territory(name=name, currency=(currency or spec.default_currency).upper()[:3])
        session.add(territory)
        session.flush()
    return territory


def _teams(session: Session, spec: _Mapping, v: dict[str, str]) -> Outcome:
    _required(v, "handle", "name", "email", "role")
    role_text = spec.role_map.get(v["role"].lower(), v["role"].lower())
    try:
        role = Role(role_text)
    except ValueError:
        raise _RowError(
            f"role '{v['role']}' is not one of rep, manager, trainer, admin (or mapped in role_map)"
        ) from None
    if "@" not in v["email"]:
        raise _RowError(f"email '{v['email']}' is not an email address")
    user = session.scalar(select(User).where(User.handle == v["handle"]))
    clash = session.scalar(select(User).where(User.email == v["email"].lower(), User.handle != v["handle"]))
    if clash is not None:
        raise _RowError(f"email {v['email']} already belongs to {clash.handle}")
    territory = _territory(session, spec, v["territory"], v.get("currency")) if v.get("territory") else None
    fields = {
        "name": v["name"],
        "email": v["email"].lower(),
        "role": role,
        "territory_id": territory.id if territory else None,
        "language": v.get("language") or "en",
    }
    if user is None:
        session.add(User(handle=v["handle"], **fields))
        session.flush()
        return "created"
    return _update(user, fields)


def _update(row: object, fields: dict[str, Any]) -> Outcome:
    changed = False
    for key, value in fields.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return "updated" if changed else "unchanged"


def _accounts(session: Session, spec: _Mapping, v: dict[str, str]) -> Outcome:
    _required(v, "external_id", "name", "territory", "owner")
    owner = _user(session, v["owner"])
    segment = spec.segment_map.get((v.get("segment") or "").lower(), (v.get("segment") or "mid_market").lower())
    if segment not in ("smb", "mid_market", "enterprise"):
        raise _RowError(f"segment '{v.get('segment')}' is not smb, mid_market or enterprise (or mapped in segment_map)")
    employees = int(_number(v["employees"], "employees")) if v.get("employees") else None
    account = session.scalar(select(Account).where(Account.external_id == v["external_id"]))
    if account is None and session.scalar(select(Account.id).where(Account.name == v["name"])) is not None:
        raise _RowError(f"an account named '{v['name']}' already exists with another CRM id")
    territory = _territory(session, spec, v["territory"], v.get("currency"))
    fields = {
        "name": v["name"],
        "name_en": v.get("name_en") or None,
        "industry": v.get("industry") or "unknown",
        "employees": employees,
        "segment": segment,
        "city": v.get("city") or None,
        "country": v.get("country") or None,
        "territory_id": territory.id,
        "owner_id": owner.id,
        "is_key_account": (v.get("key_account") or "").lower() in ("1", "true", "yes", "y", "是"),
    }
    if account is None:
        session.add(Account(external_id=v["external_id"], **fields))
        session.flush()
        return "created"
    return _update(account, fields)


def _opportunities(session: Session, spec: _Mapping, v: dict[str, str]) -> Outcome:
    _required(v, "external_id", "name", "account", "amount", "stage", "close_date")
    account = session.scalar(select(Account).where(Account.external_id == v["account"]))
    if account is None:
        raise _RowError(f"unknown account id '{v['account']}'")
    stage_text = spec.stage_map.get(v["stage"].lower(), v["stage"].lower())
    try:
        stage = OpportunityStage(stage_text)
    except ValueError:
        raise _RowError(f"stage '{v['stage']}' is not mapped (add it to stage_map)") from None
    amount = _number(v["amount"], "amount")
    close = _date(spec, v["close_date"], "close_date")
    created = _date(spec, v["created"], "created") if v.get("created") else close
    if created > close:
        raise _RowError("created date is after the close date")
    owner = _user(session, v["owner"]) if v.get("owner") else account.owner
    product = None
    if v.get("product"):
        product = session.scalar(
            select(Product).where(Product.sku.ilike(v["product"]) | Product.name.ilike(v["product"]))
        )
    territory = account.territory
    status = {"closed_won": OpportunityStatus.WON, "closed_lost": OpportunityStatus.LOST}.get(
        stage.value, OpportunityStatus.OPEN
    )
    fields = {
        "name": v["name"],
        "account_id": account.id,
        "owner_id": owner.id,
        "product_id": product.id if product else None,
        "amount": amount,
        "currency": (v.get("currency") or territory.currency).upper()[:3],
        "stage": stage,
        "probability": CRM_PROBABILITY[stage.value],
        "status": status,
        "created_date": created,
        "expected_close_date": close,
        "closed_date": close if status is not OpportunityStatus.OPEN else None,
        "competitor": v.get("competitor") or None,
    }
    opp = session.scalar(select(Opportunity).where(Opportunity.external_id == v["external_id"]))
    if opp is None:
        opp = Opportunity(external_id=v["external_id"], **fields)
        session.add(opp)
        session.flush()
        _history(session, opp, None, OpportunityStage.PROSPECTING, created, amount, close)
        if stage is not OpportunityStage.PROSPECTING:
            _history(
                session,
                opp,
                OpportunityStage.PROSPECTING,
                stage,
                close if status is not OpportunityStatus.OPEN else created,
                amount,
                close,
            )
        return "created"
    previous = opp.stage
    outcome = _update(opp, fields)
    if previous is not stage:
        # The export shows the stage today: record the move, so forecasts learn from it.
        _history(
            session,
            opp,
            previous,
            stage,
            close if status is not OpportunityStatus.OPEN else date.today(),
            amount,
            close,
        )
    return outcome


def _history(
    session: Session,
    opp: Opportunity,
    old: OpportunityStage | None,
    new: OpportunityStage,
    day: date,
    amount: float,
    close: date,
) -> None:
    session.add(
        StageChange(
            opportunity_id=opp.id,
            from_stage=old,
            to_stage=new,
            changed_on=day,
            changed_at=datetime.combine(day, time(12), tzinfo=UTC),
            amount=amount,
            expected_close_date=close,
        )
    )


def _activities(session: Session, spec: _Mapping, v: dict[str, str]) -> Outcome:
    _required(v, "account", "type", "date")
    account = session.scalar(select(Account).where(Account.external_id == v["account"]))
    if account is None:
        raise _RowError(f"unknown account id '{v['account']}'")
    signal = spec.activity_map.get(v["type"].lower())
    if signal is None:
        raise _RowError(f"activity type '{v['type']}' is not mapped to a signal (add it to activity_map)")
    day = _date(spec, v["date"], "date")
    value = _number(v["value"], "value") if v.get("value") else 1.0
    when = datetime.combine(day, time(12), tzinfo=UTC)
    source = f"crm:{v['external_id']}" if v.get("external_id") else "crm"
    query = select(SignalEvent).where(
        SignalEvent.account_id == account.id, SignalEvent.signal_type == signal, SignalEvent.source == source
    )
    if source == "crm":
        query = query.where(SignalEvent.occurred_at == when, SignalEvent.value == value)
    existing = session.scalar(query.limit(1))
    if existing is None:
        session.add(
            SignalEvent(account_id=account.id, signal_type=signal, value=value, occurred_at=when, source=source)
        )
        return "created"
    return _update(existing, {"value": value})


Importer: TypeAlias = Callable[[Session, _Mapping, dict[str, str]], Outcome]
_IMPORTERS: dict[str, Importer] = {
    "teams": _teams,
    "accounts": _accounts,
    "opportunities": _opportunities,
    "activities": _activities,
}
