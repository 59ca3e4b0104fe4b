"""Who may add, replace and remove knowledge-base documents (bot.core.access decides): a real
database and Chroma store, the word-hashing embedder instead of a model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.core.errors import NotFound, PermissionDenied
from bot.core.identity import Identity
from bot.core.models import Account, KnowledgeChunk, KnowledgeDocument, User
from knowledge_base import KnowledgeBase
from retrieval import Retriever
from tests.unit.test_retrieval_access import WordHashEmbedder


@pytest.fixture
def retriever(org_app: App) -> Retriever:
    return Retriever(org_app.settings, org_app.db.session, embedder=WordHashEmbedder())


@pytest.fixture
def knowledge(org_app: App, retriever: Retriever) -> KnowledgeBase:
    return KnowledgeBase(org_app.settings, org_app.db.session, retriever)


def _account_of(app: App, handle: str) -> int:
    with app.db.session() as session:
        account_id = session.scalar(
            select(Account.id).join(User, Account.owner_id == User.id).where(User.handle == handle).limit(1)
        )
        assert account_id is not None
        return account_id


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _stored(app: App, retriever: Retriever, doc_id: int) -> tuple[set[int], set[int]]:
    """The versions of a document's chunks in the database and in the vector store."""
    with app.db.session() as session:
        rows = set(session.scalars(select(KnowledgeChunk.version).where(KnowledgeChunk.document_id == doc_id)))
    metadatas = retriever.collection.get(where={"doc_id": doc_id}, include=["metadatas"])["metadatas"] or []
    return rows, {int(str(meta["version"])) for meta in metadatas}


def test_only_trainers_and_admins_add_documents(
    knowledge: KnowledgeBase, identity_of: Callable[[str], Identity], tmp_path: Path
) -> None:
    path = _write(tmp_path / "x.md", "# X\n\nRenewal terms.\n")
    for caller in (identity_of("li.wei"), identity_of("wang.fang"), Identity.anonymous("slack", "U1")):
        with pytest.raises(PermissionDenied, match="Only trainers and admins"):
            knowledge.add_file(caller, path)
        with pytest.raises(PermissionDenied, match="Only trainers and admins"):
            knowledge.add_paths(caller, [path])
    assert knowledge.add_file(identity_of("zhao.lin"), path).changed
    assert knowledge.add_file(identity_of("ops.admin"), path).changed is False  # same content: nothing to do


def test_a_trainer_cannot_replace_a_customer_history_they_did_not_add(
    org_app: App,
    knowledge: KnowledgeBase,
    retriever: Retriever,
    identity_of: Callable[[str], Identity],
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "notes.md", "# Notes\n\nThe CFO signs above 100k.\n")
    history = knowledge.add_file(
        identity_of("ops.admin"), path, kind="customer_history", account_id=_account_of(org_app, "zhang.min")
    )
    _write(path, "# Notes\n\nThe CEO signs everything.\n")
    with pytest.raises(PermissionDenied, match="would replace a document you cannot change"):
        knowledge.add_file(identity_of("zhao.lin"), path)
    assert _stored(org_app, retriever, history.doc_id) == ({1}, {1})
    # An admin may: the new version replaces the old one everywhere.
    replaced = knowledge.add_file(identity_of("ops.admin"), path)
    assert (replaced.doc_id, replaced.version) == (history.doc_id, 2)
    assert _stored(org_app, retriever, history.doc_id) == ({2}, {2})


def test_removing_follows_what_the_caller_may_change(
    org_app: App,
    knowledge: KnowledgeBase,
    retriever: Retriever,
    identity_of: Callable[[str], Identity],
    tmp_path: Path,
) -> None:
    admin, trainer = identity_of("ops.admin"), identity_of("zhao.lin")
    account = _account_of(org_app, "li.wei")
    theirs = knowledge.add_file(
        trainer, _write(tmp_path / "a.md", "# A\n\nBudget owner.\n"), kind="customer_history", account_id=account
    )
    admins = knowledge.add_file(
        admin, _write(tmp_path / "b.md", "# B\n\nBudget timing.\n"), kind="customer_history", account_id=account
    )
    public = knowledge.add_file(admin, _write(tmp_path / "c.md", "# C\n\nPricing.\n"))

    with pytest.raises(PermissionDenied):  # reps never change the knowledge base, existing id or not
        knowledge.remove(identity_of("li.wei"), public.doc_id)
    with pytest.raises(PermissionDenied):
        knowledge.remove(identity_of("li.wei"), 9999)
    with pytest.raises(NotFound):
        knowledge.remove(trainer, 9999)
    with pytest.raises(PermissionDenied, match=f"document #{admins.doc_id}"):
        knowledge.remove(trainer, admins.doc_id)

    assert knowledge.remove(trainer, theirs.doc_id) == "A"
    assert knowledge.remove(trainer, public.doc_id) == "C"
    assert knowledge.remove(admin, admins.doc_id) == "B"
    with org_app.db.session() as session:
        assert session.scalars(select(KnowledgeDocument.id)).all() == []
    for removed in (theirs, admins, public):
        assert _stored(org_app, retriever, removed.doc_id) == (set(), set())
