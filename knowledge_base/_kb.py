"""The knowledge base: add, replace, list and remove documents; idempotent and atomic.

Who may do what comes from `bot.core.access` alone: adding needs `can_add_knowledge`, replacing
or removing a document needs `can_change_document`, and listing shows exactly the documents a
search by the same caller may return (`access.documents`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from bot.core import access
from bot.core.db import SessionFactory
from bot.core.errors import CopilotError, InvalidInput, NotFound, PermissionDenied, ServiceUnavailable
from bot.core.identity import Identity
from bot.core.models import Account, KnowledgeChunk, KnowledgeDocument, Visibility, utcnow
from bot.core.ports import IngestOutcome
from bot.core.settings import Settings
from bot.core.text import detect_language
from knowledge_base._chunking import chunk_sections
from knowledge_base._loaders import SUPPORTED_SUFFIXES, load_document
from retrieval import ChunkRecord

__all__ = ["ACCOUNT_KINDS", "KINDS", "ChunkIndex", "DocumentInfo", "IngestReport", "KnowledgeBase", "Progress"]

logger = logging.getLogger(__name__)

KINDS = ("playbook", "battlecard", "case_study", "product", "compliance", "lesson", "customer_history", "call_summary")
ACCOUNT_KINDS = ("customer_history", "call_summary")
EDITORS_ONLY = "Only trainers and admins can change the knowledge base."


class ChunkIndex(Protocol):
    """What the knowledge base needs from the search index (the retriever): chunks in and out."""

    def add_chunks(self, chunks: Sequence[ChunkRecord]) -> None: ...

    def delete_chunks(self, doc_id: int, keep_version: int | None = None) -> None: ...

    def delete_ids(self, ids: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    title: str
    kind: str
    language: str
    format: str
    visibility: str
    account_id: int | None
    version: int
    chunks: int
    size_bytes: int
    source: str
    source_path: str
    updated_at: str

    @classmethod
    def of(cls, document: KnowledgeDocument) -> DocumentInfo:
        return cls(
            id=document.id,
            title=document.title,
            kind=document.kind,
            language=document.language,
            format=document.format,
            visibility=document.visibility.value,
            account_id=document.account_id,
            version=document.version,
            chunks=document.chunk_count,
            size_bytes=document.size_bytes,
            source=document.source,
            source_path=document.source_path,
            updated_at=document.updated_at.isoformat(),
        )


@dataclass
class IngestReport:
    added: list[IngestOutcome] = field(default_factory=list)
    unchanged: list[IngestOutcome] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    @property
    def ok(self) -> bool:
        return not self.failed


Progress = Callable[[str, int, int], None]
"""(file name, files done, files in all)"""


def _require_change(session: Session, identity: Identity, document: KnowledgeDocument, refusal: str) -> None:
    if not access.can_change_document(session, identity, document):
        raise PermissionDenied(refusal)


class KnowledgeBase:
    """Documents in the database (the live version of each, its passages' texts) and their
    vectors in `index`, kept in step: a reader sees a document's old passages or its new ones."""

    def __init__(self, settings: Settings, sessions: SessionFactory, index: ChunkIndex) -> None:
        self.settings = settings
        self.sessions = sessions
        self.index = index

    # --- adding ------------------------------------------------------------------------------
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
        """Add one file, or replace the document it updates (same source, new content)."""
        if not access.can_add_knowledge(identity):
            raise PermissionDenied(EDITORS_ONLY)
        filename = filename or path.name
        if not path.is_file():
            raise NotFound(f"'{filename}' does not exist.")
        size = path.stat().st_size
        limit = self.settings.kb_max_file_mb * 1024 * 1024
        if size > limit:
            raise InvalidInput(
                f"'{filename}' is {size / 1048576:.1f} MB; the limit is {self.settings.kb_max_file_mb:g} MB. Split it."
            )
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        source_path = str(path.resolve()) if source in ("cli", "demo") else f"{source}:{filename}"
        replaces = f"'{filename}' would replace a document you cannot change."

        with self.sessions() as session:
            existing = session.scalar(select(KnowledgeDocument).where(KnowledgeDocument.source_path == source_path))
            if existing is not None:
                _require_change(session, identity, existing, replaces)
                if existing.content_hash == digest:
                    return IngestOutcome(
                        existing.id, existing.title, existing.version, existing.chunk_count, changed=False
                    )

        loaded = load_document(path, filename)
        meta = loaded.meta
        inferred_kind = "customer_history" if meta.get("csv_rows") and meta.get("account") else "playbook"
        kind = kind or str(meta.get("kind") or inferred_kind)
        if kind not in KINDS:
            raise InvalidInput(f"Unknown kind '{kind}' for '{filename}'. Use one of: {', '.join(KINDS)}.")
        language = language or str(meta.get("language") or detect_language(loaded.text[:4000]))
        title = title or str(meta.get("title") or loaded.title or Path(filename).stem.replace("-", " "))
        gap = str(meta["gap"]) if meta.get("gap") else None

        with self.sessions() as session:
            account = self._account(session, account_id, meta.get("account"), filename)
            if kind in ACCOUNT_KINDS and account is None:
                raise InvalidInput(f"'{filename}' is a {kind.replace('_', ' ')}: name its account (--account).")
            visibility = visibility or str(meta.get("visibility") or ("owner" if account else "everyone"))
            try:
                Visibility(visibility)
            except ValueError:
                raise InvalidInput(f"Unknown visibility '{visibility}': use everyone, territory or owner.") from None
            if visibility == "owner" and account is None:
                raise InvalidInput(f"'{filename}' is visible to its owner only: name its account (--account).")

            chunks = chunk_sections(
                title,
                loaded.sections,
                self.settings.chunk_size,
                self.settings.chunk_overlap,
                keep_sections_whole=bool(meta.get("csv_rows")),
            )
            if not chunks:
                raise InvalidInput(f"'{filename}' has no readable text.")

            document = session.scalar(
                select(KnowledgeDocument).where(KnowledgeDocument.source_path == source_path).with_for_update()
            )
            if document is None:
                version = 1
                document = KnowledgeDocument(source_path=source_path, created_at=utcnow())
                session.add(document)
            else:
                # Checked again on the locked row: it may have changed since the first look.
                _require_change(session, identity, document, replaces)
                version = document.version + 1
            document.title = title
            document.kind = kind
            document.language = language
            document.format = loaded.format
            document.visibility = Visibility(visibility)
            document.account_id = account.id if account else None
            document.territory_id = account.territory_id if account else identity.territory_id
            document.owner_id = account.owner_id if account else None
            document.version = version
            document.content_hash = digest
            document.size_bytes = size
            document.chunk_count = len(chunks)
            document.source = source
            document.added_by_id = identity.user_id
            document.updated_at = utcnow()
            session.flush()
            records = [
                ChunkRecord(
                    chunk_id=f"{document.id}:{version}:{i}",
                    text=chunk.text,
                    doc_id=document.id,
                    version=version,
                    title=title,
                    source=filename if source not in ("cli", "demo") else source_path,
                    kind=kind,
                    language=language,
                    visibility=visibility,
                    account_id=document.account_id,
                    territory_id=document.territory_id,
                    gap=gap,
                    position=i,
                )
                for i, chunk in enumerate(chunks)
            ]
            # Texts of the new version replace the old ones in this transaction: readers see one or the other.
            session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.document_id == document.id))
            session.add_all(
                KnowledgeChunk(id=r.chunk_id, document_id=r.doc_id, version=version, position=r.position, text=r.text)
                for r in records
            )
            try:
                self.index.add_chunks(records)
            except CopilotError:
                self.index.delete_ids([r.chunk_id for r in records])
                raise
            except Exception as exc:
                logger.exception("writing chunks of %s failed", filename)
                self.index.delete_ids([r.chunk_id for r in records])
                raise ServiceUnavailable(f"'{filename}' could not be stored; nothing was changed. Try again.") from exc
            outcome = IngestOutcome(document.id, title, version, len(chunks), changed=True)
        # The new version is live (committed); the old chunks are now invisible: drop them.
        self.index.delete_chunks(outcome.doc_id, keep_version=outcome.version)
        logger.info("kb: %s v%d (%d chunks) by %s", title, version, len(chunks), identity.handle)
        return outcome

    def _account(self, session: Session, account_id: int | None, named: object, filename: str) -> Account | None:
        """The account a document belongs to: by id, else by the name its file gives (name,
        English name or CRM id); None when neither is given."""
        if account_id is not None:
            account = session.get(Account, account_id)
            if account is None:
                raise NotFound(f"No account with id {account_id} for '{filename}'.")
            return account
        if named:
            ref = str(named).strip()
            account = session.scalar(
                select(Account).where(or_(Account.name == ref, Account.name_en == ref, Account.external_id == ref))
            )
            if account is None:
                raise NotFound(f"'{filename}' names account '{ref}', which is not in the CRM data.")
            return account
        return None

    def add_paths(
        self,
        identity: Identity,
        paths: Iterable[Path],
        *,
        kind: str | None = None,
        visibility: str | None = None,
        account_id: int | None = None,
        account: str | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Add files and folders (recursively); goes on past a bad file and reports it.
        Customer histories belong to `account_id`, or to `account` named by name, English name
        or CRM id."""
        if not access.can_add_knowledge(identity):
            raise PermissionDenied(EDITORS_ONLY)
        if account and account_id is None:
            with self.sessions() as session:
                found = self._account(session, None, account, account)
                account_id = found.id if found else None
        files: list[Path] = []
        report = IngestReport()
        for path in paths:
            if path.is_dir():
                for child in sorted(path.rglob("*")):
                    if child.is_file() and not any(part.startswith(".") for part in child.relative_to(path).parts):
                        if child.suffix.lower() in SUPPORTED_SUFFIXES:
                            files.append(child)
                        else:
                            report.failed.append((str(child), "unsupported file type (skipped)"))
            elif path.exists():
                files.append(path)
            else:
                report.failed.append((str(path), "no such file"))
        for number, file in enumerate(files, start=1):
            try:
                outcome = self.add_file(identity, file, kind=kind, visibility=visibility, account_id=account_id)
            except CopilotError as exc:
                report.failed.append((str(file), exc.user_message))
            else:
                (report.added if outcome.changed else report.unchanged).append(outcome)
            if progress:
                progress(file.name, number, len(files))
        return report

    # --- listing and removing ------------------------------------------------------------------
    def list_documents(self, identity: Identity) -> list[DocumentInfo]:
        """The documents the caller can see: the same ones their searches can return."""
        rule = access.documents(identity)
        with self.sessions() as session:
            query = select(KnowledgeDocument).where(rule.clause(KnowledgeDocument)).order_by(KnowledgeDocument.id)
            return [DocumentInfo.of(document) for document in session.scalars(query)]

    def remove(self, identity: Identity, doc_id: int) -> str:
        """Remove a document and its passages; returns its title."""
        if not access.can_add_knowledge(identity):
            raise PermissionDenied(EDITORS_ONLY)
        with self.sessions() as session:
            document = session.get(KnowledgeDocument, doc_id)
            if document is None:
                raise NotFound(f"No document with id {doc_id}.")
            _require_change(session, identity, document, f"You don't have access to document #{doc_id}.")
            title = document.title
            session.delete(document)
        # Deleted from the database first: its chunks are invisible from that moment.
        self.index.delete_chunks(doc_id)
        return title
