"""The copilot core's ports: what it needs from the services, as Protocols.

The composition root plugs the real services in (the agent, the knowledge base, the call
service); tests plug in scripted ones. Nothing here knows how they work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.core.channel import Reply
from bot.core.identity import Identity
from bot.core.jobs import JobView

__all__ = [
    "AnswerRequest",
    "Answerer",
    "CallIntake",
    "IngestOutcome",
    "KnowledgeIntake",
    "ResultFormatter",
    "TokenCallback",
]


@dataclass(frozen=True)
class AnswerRequest:
    identity: Identity
    text: str
    language: str
    history: list[tuple[str, str]]  # (role, content), oldest first
    conversation_id: int | None = None
    command: str | None = None  # a slash command's verb, when the platform had one


TokenCallback = Callable[[str], None]


class Answerer(Protocol):
    def answer(self, request: AnswerRequest, on_token: TokenCallback | None = None) -> Reply:
        """Answer one turn; `on_token` receives the answer's tokens as they are generated."""
        ...


@dataclass(frozen=True)
class IngestOutcome:
    doc_id: int
    title: str
    version: int
    chunk_count: int
    changed: bool  # False when the same content was already there


class KnowledgeIntake(Protocol):
    def add_file(
        self,
        identity: Identity,
        path: Path,
        *,
        filename: str | None = None,
        source: str = "cli",
        kind: str | None = None,
        language: str | None = None,
        title: str | None = None,
        visibility: str | None = None,
        account_id: int | None = None,
    ) -> IngestOutcome:
        """Add or update one file (idempotent by content hash). Unset metadata is inferred
        from the file (front matter, headings, text); raises InvalidInput for bad files."""
        ...


class CallIntake(Protocol):
    def submit(
        self,
        identity: Identity,
        path: Path,
        *,
        filename: str,
        source: str,
        notify: dict[str, str] | None = None,
    ) -> tuple[int, int]:
        """Store the audio, create the call and its analysis job: (call id, job id)."""
        ...


ResultFormatter = Callable[[JobView, str], Reply]
"""How a finished job's result is told to the user who started it (job, language) -> Reply."""
