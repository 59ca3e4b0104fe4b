"""The knowledge base: add, replace, list and remove documents; idempotent and atomic."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select

from bot.core.ports import IngestOutcome
from bot.core.errors import CopilotError, InvalidInput, NotFound, PermissionDenied, ServiceUnavailable
from bot.core.identity import Identity
from bot.core.access import can_add_knowledge as can_edit_knowledge, visible_account_ids
from bot.core.text import detect_language
from bot.core.models import Account, KnowledgeChunk, KnowledgeDocument, Role, Visibility, utcnow
from knowledge_base._chunking import chunk_sections
from knowledge_base._loaders import SUPPORTED_SUFFIXES, load_document
from retrieval import ChunkRecord

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["KnowledgeBase", "DocumentInfo", "IngestReport", "KINDS", "ACCOUNT_KINDS"]

logger = logging.getLogger(__name__)

KINDS = ("playbook", "battlecard", "case_study", "product", "compliance", "lesson", "customer_history", "call_summary")
ACCOUNT_KINDS = ("customer_history", "call_summary")


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


@dataclass
class IngestReport:
    added: list[IngestOutcome] = field(default_factory=list)
    unchanged: list[IngestOutcome] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    @property
    def ok(self) -> bool:
        return not self.failed


Progress = Callable[[str, int, int], None]


class KnowledgeBase:
    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings

    @property
    def retriever(self):  # noqa: ANN201 - retrieval.Retriever, shared with search
        return self.app.retriever

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
        if not can_edit_knowledge(identity):
            raise PermissionDenied("Only trainers and admins can change the knowledge base.")
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

        with self.app.db.session() as session:
            existing = session.scalar(select(KnowledgeDocument).where(KnowledgeDocument.source_path == source_path))
            if existing is not None and existing.content_hash == digest:
                return IngestOutcome(existing.id, existing.title, existing.version, existing.chunk_count, changed=False)

        loaded = load_document(path, filename)
        meta = loaded.meta
        kind = kind or str(meta.get("kind") or ("customer_history" if meta.get("csv_rows") and meta.get("account") else "playbook"))
        if kind not in KINDS:
            raise InvalidInput(f"Unknown kind '{kind}' for '{filename}'. Use one of: {', '.join(KINDS)}.")
        language = language or str(meta.get("language") or detect_language(loaded.text[:4000]))
        title = title or str(meta.get("title") or loaded.title or Path(filename).stem.replace("-", " "))
        gap = str(meta["gap"]) if meta.get("gap") else None

        with self.app.db.session() as session:
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
                title, loaded.sections, self.settings.chunk_size, self.settings.chunk_overlap,
                keep_sections_whole=bool(meta.get("csv_rows")),
            )
            if not chunks:
                raise InvalidInput(f"'{filename}' has no readable text.")

            document = session.scalar(
                select(KnowledgeDocument).where(KnowledgeDocument.source_path == source_path).with_for_update()
            )
            version = 1 if document is None else document.version + 1
            if document is None:
                document = KnowledgeDocument(source_path=source_path, created_at=utcnow())
                session.add(document)
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
                self.retriever.add_chunks(records)
            except CopilotError:
                self.retriever.delete_ids([r.chunk_id for r in records])
                raise
            except Exception as exc:
                logger.exception("writing chunks of %s failed", filename)
                self.retriever.delete_ids([r.chunk_id for r in records])
                raise ServiceUnavailable(f"'{filename}' could not be stored; nothing was changed. Try again.") from exc
            outcome = IngestOutcome(document.id, title, version, len(chunks), changed=True)
        # The new version is live (committed); the old chunks are now invisible: drop them.
        self.retriever.delete_chunks(outcome.doc_id, keep_version=outcome.version)
        logger.info("kb: %s v%d (%d chunks) by %s", title, version, len(chunks), identity.handle)
        return outcome

    def _account(self, session, account_id: int | None, named: object, filename: str) -> Account | None:  # noqa: ANN001
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
        if not can_edit_knowledge(identity):
            raise PermissionDenied("Only trainers and admins can change the knowledge base.")
        if account and account_id is None:
            with self.app.db.session() as session:
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
        with self.app.db.session() as session:
            query = select(KnowledgeDocument).order_by(KnowledgeDocument.id)
            if identity.role not in (Role.ADMIN, Role.TRAINER):
                accounts = visible_account_ids(session, identity) or set()
                query = query.where(
                    or_(KnowledgeDocument.visibility == Visibility.EVERYONE, KnowledgeDocument.account_id.in_(accounts))
                )
            elif identity.role is Role.TRAINER:
                query = query.where(KnowledgeDocument.account_id.is_(None))
            return [
                DocumentInfo(
                    id=d.id, title=d.title, kind=d.kind, language=d.language, format=d.format,
                    visibility=d.visibility.value, account_id=d.account_id, version=d.version,
                    chunks=d.chunk_count, size_bytes=d.size_bytes, source=d.source, source_path=d.source_path,
                    updated_at=d.updated_at.isoformat(),
                )
                for d in session.scalars(query)
            ]

    def remove(self, identity: Identity, doc_id: int) -> str:
        if not can_edit_knowledge(identity):
            raise PermissionDenied("Only trainers and admins can change the knowledge base.")
        with self.app.db.session() as session:
            document = session.get(KnowledgeDocument, doc_id)
            if document is None:
                raise NotFound(f"No document with id {doc_id}.")
            title = document.title
            session.delete(document)
        # Deleted from the database first: its chunks are invisible from that moment.
        self.retriever.delete_chunks(doc_id)
        return title
