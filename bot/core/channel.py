"""The one channel seam.

A platform (CLI, Slack, WeCom) turns its payload into one `InboundMessage`; the copilot core
answers with one `Reply`; the platform renders the reply its own way. Nothing here knows a
platform's wire format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = [
    "Attachment",
    "AttachmentKind",
    "Channel",
    "Citation",
    "InboundMessage",
    "Reply",
    "ReplyImage",
    "ReplyKind",
    "ReplyTable",
    "attachment_kind",
]

AttachmentKind = Literal["audio", "document", "image", "other"]

AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".m4a", ".flac", ".ogg", ".oga", ".opus", ".webm", ".amr", ".aac", ".mp4"})
DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".pdf", ".docx", ".html", ".htm", ".csv"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".heic"})


def attachment_kind(filename: str, mime_type: str | None = None) -> AttachmentKind:
    suffix = Path(filename).suffix.lower()
    if suffix in AUDIO_SUFFIXES or (mime_type or "").startswith("audio/"):
        return "audio"
    if suffix in DOCUMENT_SUFFIXES:
        return "document"
    if suffix in IMAGE_SUFFIXES or (mime_type or "").startswith("image/"):
        return "image"
    return "other"


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message. The platform adapter downloads it to `local_path`
    before the core sees it (inside a job, never inside the webhook request)."""

    filename: str
    local_path: Path
    mime_type: str | None = None
    size_bytes: int | None = None

    @property
    def kind(self) -> AttachmentKind:
        return attachment_kind(self.filename, self.mime_type)


@dataclass(frozen=True)
class InboundMessage:
    platform: str  # cli | slack | wecom
    event_id: str  # the platform's id for dedupe (Slack event_id, WeCom MsgId)
    user_external_id: str  # Slack user id, WeCom userid, or a handle on the CLI
    conversation_key: str  # thread identity: memory is per conversation
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    user_email: str | None = None
    command: str | None = None  # a slash command's sub-command: ask, summary, forecast, ...
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Citation:
    index: int  # the [n] used in the answer text
    doc_id: int | str
    title: str
    source: str
    snippet: str = ""


@dataclass(frozen=True)
class ReplyTable:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    title: str = ""


@dataclass(frozen=True)
class ReplyImage:
    path: Path
    title: str
    alt_text: str = ""


ReplyKind = Literal["answer", "accepted", "refusal", "error"]


@dataclass
class Reply:
    """What the core answers. `kind` lets a platform style errors and refusals differently."""

    text: str
    kind: ReplyKind = "answer"
    citations: list[Citation] = field(default_factory=list)
    tables: list[ReplyTable] = field(default_factory=list)
    images: list[ReplyImage] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    records: list[str] = field(default_factory=list)  # records the answer used, for the audit log
    job_id: int | None = None  # set when the work continues in a background job
    message_id: int | None = None  # the stored assistant message, for feedback buttons
    language: str = "en"
    abstained: bool = False  # the answer is "the documents do not say": nothing was guessed

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "kind": self.kind,
            "abstained": self.abstained,
            "citations": [
                {"index": c.index, "doc_id": c.doc_id, "title": c.title, "source": c.source, "snippet": c.snippet}
                for c in self.citations
            ],
            "tool_calls": self.tool_calls,
            "tables": [
                {"title": t.title, "columns": list(t.columns), "rows": [list(r) for r in t.rows]} for t in self.tables
            ],
            "images": [{"path": str(i.path), "title": i.title} for i in self.images],
            "job_id": self.job_id,
            "message_id": self.message_id,
        }


class Channel(Protocol):
    """A platform that can deliver a reply into a conversation it opened."""

    platform: str

    def deliver(self, conversation_key: str, reply: Reply, *, user_external_id: str) -> None: ...
