"""The sales data model (SQLAlchemy 2.x typed ORM).

SQLite by default, PostgreSQL via DATABASE_URL. The schema is owned by Alembic
(`bot/core/migrations`); never call `create_all` outside tests of the migrations themselves.
Money is stored as float in the opportunity's currency; amounts compared across
territories are converted by the insights layer.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "OPEN_STAGES",
    "Account",
    "Actual",
    "AuditLog",
    "Base",
    "Call",
    "CallStatus",
    "Contact",
    "Conversation",
    "Feedback",
    "ForecastSnapshot",
    "GapFinding",
    "Job",
    "JobStatus",
    "KnowledgeChunk",
    "KnowledgeDocument",
    "Message",
    "Opportunity",
    "OpportunityStage",
    "OpportunityStatus",
    "Product",
    "RiskAlert",
    "Role",
    "SignalEvent",
    "StageChange",
    "Target",
    "Territory",
    "User",
    "Visibility",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=naming_convention)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


def _enum(cls: type[enum.Enum]) -> Enum:
    # Store the value string; no native DB enum so adding a member needs no DDL.
    return Enum(cls, values_callable=lambda e: [m.value for m in e], native_enum=False, length=32)


class Role(enum.StrEnum):
    REP = "rep"
    MANAGER = "manager"
    TRAINER = "trainer"
    ADMIN = "admin"


class Visibility(enum.StrEnum):
    EVERYONE = "everyone"
    TERRITORY = "territory"
    OWNER = "owner"


class OpportunityStage(enum.StrEnum):
    PROSPECTING = "prospecting"
    QUALIFICATION = "qualification"
    DISCOVERY = "discovery"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


OPEN_STAGES = (
    OpportunityStage.PROSPECTING,
    OpportunityStage.QUALIFICATION,
    OpportunityStage.DISCOVERY,
    OpportunityStage.PROPOSAL,
    OpportunityStage.NEGOTIATION,
)


class OpportunityStatus(enum.StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class CallStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# --- organisation ------------------------------------------------------------------------


class Territory(Base):
    __tablename__ = "territories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    name_zh: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(3), default="USD")

    users: Mapped[list[User]] = relationship(back_populates="territory")
    accounts: Mapped[list[Account]] = relationship(back_populates="territory")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role))
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territories.id"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    language: Mapped[str] = mapped_column(String(5), default="en")
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    wecom_userid: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    territory: Mapped[Territory | None] = relationship(back_populates="users")
    manager: Mapped[User | None] = relationship(remote_side="User.id")


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    name_en: Mapped[str | None] = mapped_column(String(200))
    industry: Mapped[str] = mapped_column(String(80))
    employees: Mapped[int | None] = mapped_column(Integer)
    segment: Mapped[str] = mapped_column(String(20), default="mid_market")  # smb | mid_market | enterprise
    city: Mapped[str | None] = mapped_column(String(80))
    country: Mapped[str | None] = mapped_column(String(80))
    territory_id: Mapped[int] = mapped_column(ForeignKey("territories.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    is_key_account: Mapped[bool] = mapped_column(Boolean, default=False)
    external_id: Mapped[str | None] = mapped_column(String(80), unique=True)  # CRM id
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    territory: Mapped[Territory] = relationship(back_populates="accounts")
    owner: Mapped[User] = relationship()
    contacts: Mapped[list[Contact]] = relationship(back_populates="account")
    opportunities: Mapped[list[Opportunity]] = relationship(back_populates="account")


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str | None] = mapped_column(String(120))
    buying_role: Mapped[str | None] = mapped_column(String(40))  # economic_buyer, champion, technical...
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))

    account: Mapped[Account] = relationship(back_populates="contacts")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str | None] = mapped_column(String(120))
    family: Mapped[str] = mapped_column(String(60))
    list_price: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="USD")


class Opportunity(Base):
    __tablename__ = "opportunities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    stage: Mapped[OpportunityStage] = mapped_column(_enum(OpportunityStage), index=True)
    probability: Mapped[float] = mapped_column(Float)  # 0..1, as the rep/CRM set it
    status: Mapped[OpportunityStatus] = mapped_column(_enum(OpportunityStatus), index=True)
    created_date: Mapped[date] = mapped_column(Date)
    expected_close_date: Mapped[date] = mapped_column(Date, index=True)
    closed_date: Mapped[date | None] = mapped_column(Date)
    loss_reason: Mapped[str | None] = mapped_column(String(200))
    competitor: Mapped[str | None] = mapped_column(String(120))
    external_id: Mapped[str | None] = mapped_column(String(80), unique=True)

    account: Mapped[Account] = relationship(back_populates="opportunities")
    owner: Mapped[User] = relationship()
    product: Mapped[Product | None] = relationship()
    stage_changes: Mapped[list[StageChange]] = relationship(
        back_populates="opportunity", order_by="StageChange.changed_at"
    )


class StageChange(Base):
    """Full stage history: every stage move, with the amount and close date at that moment."""

    __tablename__ = "stage_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id"), index=True)
    from_stage: Mapped[OpportunityStage | None] = mapped_column(_enum(OpportunityStage))
    to_stage: Mapped[OpportunityStage] = mapped_column(_enum(OpportunityStage))
    changed_on: Mapped[date] = mapped_column(Date)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    amount: Mapped[float] = mapped_column(Float)
    expected_close_date: Mapped[date] = mapped_column(Date)

    opportunity: Mapped[Opportunity] = relationship(back_populates="stage_changes")


class SignalEvent(Base):
    """One buyer signal (feeds resonance scores). `signal_type` is a key of insights/signals.yaml."""

    __tablename__ = "signal_events"
    __table_args__ = (Index("ix_signal_events_account_time", "account_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    signal_type: Mapped[str] = mapped_column(String(60), index=True)
    value: Mapped[float] = mapped_column(Float, default=1.0)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str | None] = mapped_column(String(60))


# --- forecasting -------------------------------------------------------------------------


class Target(Base):
    """Quota for a scope and period, e.g. territory:East China / 2026-Q3."""

    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("scope_type", "scope_key", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_type: Mapped[str] = mapped_column(String(20))  # territory | rep | account | product
    scope_key: Mapped[str] = mapped_column(String(120))
    period: Mapped[str] = mapped_column(String(10))  # 2026-Q3 | 2026-08
    amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="USD")


class ForecastSnapshot(Base):
    __tablename__ = "forecast_snapshots"
    __table_args__ = (Index("ix_forecast_snapshots_scope", "scope_type", "scope_key", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_type: Mapped[str] = mapped_column(String(20))
    scope_key: Mapped[str] = mapped_column(String(120))
    period: Mapped[str] = mapped_column(String(10))
    as_of: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(40))
    point: Mapped[float] = mapped_column(Float)
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    interval_level: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Actual(Base):
    """Booked revenue of a closed period, recorded when the period closes."""

    __tablename__ = "actuals"
    __table_args__ = (UniqueConstraint("scope_type", "scope_key", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_type: Mapped[str] = mapped_column(String(20))
    scope_key: Mapped[str] = mapped_column(String(120))
    period: Mapped[str] = mapped_column(String(10))
    amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RiskAlert(Base):
    __tablename__ = "risk_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(80))
    scope_type: Mapped[str] = mapped_column(String(20))
    scope_key: Mapped[str] = mapped_column(String(120))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territories.id"), index=True)
    severity: Mapped[str] = mapped_column(String(10))  # low | medium | high
    message: Mapped[str] = mapped_column(Text)
    remedies: Mapped[list[Any] | None] = mapped_column(JSON)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | acknowledged | closed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- calls ---------------------------------------------------------------------------------


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The territory the call was made in (the owner's at upload): a rep who later moves keeps
    # their old calls with the old territory's manager.
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territories.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id"))
    title: Mapped[str] = mapped_column(String(200))
    original_filename: Mapped[str] = mapped_column(String(255))
    audio_path: Mapped[str] = mapped_column(String(500))  # kept under data_dir/audio, never deleted on failure
    audio_sha256: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(20), default="cli")  # cli | slack | wecom | demo
    status: Mapped[CallStatus] = mapped_column(_enum(CallStatus), default=CallStatus.QUEUED)
    error: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(5))
    duration_s: Mapped[float | None] = mapped_column(Float)
    speakers_inferred: Mapped[bool] = mapped_column(Boolean, default=False)
    transcript: Mapped[list[Any] | None] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    analyzed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    owner: Mapped[User] = relationship()
    account: Mapped[Account | None] = relationship()
    findings: Mapped[list[GapFinding]] = relationship(back_populates="call", cascade="all, delete-orphan")


class GapFinding(Base):
    __tablename__ = "gap_findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    gap_type: Mapped[str] = mapped_column(String(40), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[list[Any]] = mapped_column(JSON)
    coaching: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    judged_by: Mapped[str] = mapped_column(String(20), default="rules")  # rules | llm
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    call: Mapped[Call] = relationship(back_populates="findings")


# --- knowledge -----------------------------------------------------------------------------


class KnowledgeDocument(Base):
    __tablename__ = "knowledge_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_path: Mapped[str] = mapped_column(String(500), unique=True)  # identity of a document
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(30), index=True)
    language: Mapped[str] = mapped_column(String(5))
    format: Mapped[str] = mapped_column(String(10))
    visibility: Mapped[Visibility] = mapped_column(_enum(Visibility), default=Visibility.EVERYONE)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territories.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(20), default="cli")  # cli | slack | wecom | crm | demo
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KnowledgeChunk(Base):
    """The text of one live chunk. Chroma holds only its vector and filter metadata: keeping text
    out of Chroma keeps its writes fast (its full-text index slows every upsert as it grows), and
    replacing a document's rows in the version's transaction keeps readers consistent."""

    __tablename__ = "knowledge_chunks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # "{document_id}:{version}:{position}"
    document_id: Mapped[int] = mapped_column(ForeignKey("knowledge_documents.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)


# --- conversations, jobs, audit ------------------------------------------------------------


class Conversation(Base):
    """A chat thread; its messages are the agent's memory."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("platform", "external_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))  # cli | slack | wecom
    external_key: Mapped[str] = mapped_column(String(200))  # e.g. channel:thread_ts
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    messages: Mapped[list[Message]] = relationship(back_populates="conversation", order_by="Message.id")


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(12))  # user | assistant
    content: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # citations, tool calls, platform ids
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class Job(Base):
    """A long-running unit of work that survives restarts (see bot.core.jobs)."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.QUEUED, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    progress_note: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    platform: Mapped[str] = mapped_column(String(20))
    rating: Mapped[int] = mapped_column(Integer)  # +1 | -1
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditLog(Base):
    """Who asked what, and which records the answer used."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))  # ask | kb_add | call_analyze | summary ...
    query: Mapped[str | None] = mapped_column(Text)
    records: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ["account:12", "doc:5", "call:3"]
    outcome: Mapped[str] = mapped_column(String(20), default="ok")  # ok | denied | error
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
