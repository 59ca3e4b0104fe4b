"""Search and `kb list` show each caller the same documents: those `bot.core.access.documents`
allows. A real database (the demo org), a real Retriever and Chroma store, a word-hashing
embedder instead of a model."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from bot.app import App
from bot.core.identity import Identity
from bot.core.models import Account, Role, Territory, User
from knowledge_base import KnowledgeBase
from retrieval import Retriever
from retrieval._text import tokenize

QUERY = "renewal playbook"


class WordHashEmbedder:
    """The sum of a fixed random vector per word: texts sharing words are near, with no model to
    load (and, unlike one-hot buckets, distinct texts get distinct, well-spread vectors)."""

    name = "word-hash"
    dimensions = 64

    def _word(self, token: str) -> np.ndarray:
        return np.random.default_rng(zlib.crc32(token.encode())).standard_normal(self.dimensions)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        vectors = np.array([sum(self._word(t) for t in tokenize(text) or ["<empty>"]) for text in texts])
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


@dataclasses.dataclass(frozen=True)
class Parts:
    app: App
    retriever: Retriever
    knowledge: KnowledgeBase
    who: Callable[[str], Identity]


@pytest.fixture
def parts(org_app: App, identity_of: Callable[[str], Identity]) -> Parts:
    # Every test document shares the query's words, so BM25 rates them all alike and low: no
    # relevance floor, these tests are about who may read what.
    settings = org_app.settings.model_copy(update={"retrieval_min_bm25": 0.0})
    retriever = Retriever(settings, org_app.db.session, embedder=WordHashEmbedder())
    return Parts(org_app, retriever, KnowledgeBase(org_app.settings, org_app.db.session, retriever), identity_of)


def _file(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.md"
    path.write_text(f"# {name}\n\n{body}\n", encoding="utf-8")
    return path


def _first_account_of(app: App, handle: str) -> Account:
    with app.db.session() as session:
        account = session.scalar(
            select(Account).join(User, Account.owner_id == User.id).where(User.handle == handle).order_by(Account.id)
        )
        assert account is not None
        return account


def _territory(app: App, name: str) -> int:
    with app.db.session() as session:
        territory_id = session.scalar(select(Territory.id).where(Territory.name == name))
        assert territory_id is not None
        return territory_id


@pytest.fixture
def library(parts: Parts, tmp_path: Path) -> dict[str, int]:
    """One document of each visibility, by name -> id."""
    admin, trainer = parts.who("ops.admin"), parts.who("zhao.lin")
    # Territory documents take the uploader's territory: an admin working in each territory.
    in_east = dataclasses.replace(admin, territory_id=_territory(parts.app, "East China"))
    in_na = dataclasses.replace(admin, territory_id=_territory(parts.app, "North America"))
    body = f"The {QUERY} for this team."
    added = {
        "public": parts.knowledge.add_file(admin, _file(tmp_path, "public", body)),
        "east-territory": parts.knowledge.add_file(
            in_east, _file(tmp_path, "east-territory", body), visibility="territory"
        ),
        "na-territory": parts.knowledge.add_file(in_na, _file(tmp_path, "na-territory", body), visibility="territory"),
        # Customer histories: li.wei's added by the trainer, the others by the admin.
        "li-history": parts.knowledge.add_file(
            trainer,
            _file(tmp_path, "li-history", body),
            kind="customer_history",
            account_id=_first_account_of(parts.app, "li.wei").id,
        ),
        "zhang-history": parts.knowledge.add_file(
            admin,
            _file(tmp_path, "zhang-history", body),
            kind="customer_history",
            account_id=_first_account_of(parts.app, "zhang.min").id,
        ),
        "jason-history": parts.knowledge.add_file(
            admin,
            _file(tmp_path, "jason-history", body),
            kind="customer_history",
            account_id=_first_account_of(parts.app, "jason.reed").id,
        ),
    }
    return {name: outcome.doc_id for name, outcome in added.items()}


def _manager_without_territory(app: App) -> Identity:
    with app.db.session() as session:
        user = User(handle="roving.manager", name="Roving Manager", email="roving@lumina.example", role=Role.MANAGER)
        session.add(user)
        session.flush()
        return Identity.from_user(user)


EVERY_DOCUMENT = {"public", "east-territory", "na-territory", "li-history", "zhang-history", "jason-history"}


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("ops.admin", EVERY_DOCUMENT),
        # The territory's manager: its territory documents and every history of its accounts.
        ("wang.fang", {"public", "east-territory", "li-history", "zhang-history"}),
        ("sarah.mitchell", {"public", "na-territory", "jason-history"}),
        ("manager without a territory", {"public"}),
        # A rep: the territory's documents and the histories of their own accounts only.
        ("li.wei", {"public", "east-territory", "li-history"}),
        ("zhang.min", {"public", "east-territory", "zhang-history"}),
        ("liu.yang", {"public", "east-territory"}),
        # A trainer: everything not tied to a customer, plus the histories they added.
        ("zhao.lin", {"public", "east-territory", "na-territory", "li-history"}),
        ("unknown chat user", {"public"}),
    ],
)
def test_search_and_kb_list_show_each_caller_the_same_documents(
    parts: Parts, library: dict[str, int], caller: str, expected: set[str]
) -> None:
    if caller == "manager without a territory":
        identity = _manager_without_territory(parts.app)
    elif caller == "unknown chat user":
        identity = Identity.anonymous("slack", "U-stranger")
    else:
        identity = parts.who(caller)
    names = {doc_id: name for name, doc_id in library.items()}

    found = {names[hit.doc_id] for hit in parts.retriever.search(identity, QUERY, k=20)}
    listed = {names[document.id] for document in parts.knowledge.list_documents(identity)}

    assert found == expected
    assert listed == expected
    for mode in ("dense", "bm25"):
        assert {names[hit.doc_id] for hit in parts.retriever.search(identity, QUERY, k=20, mode=mode)} == expected


def test_selective_filters_narrow_within_what_the_caller_may_read(parts: Parts, library: dict[str, int]) -> None:
    manager = parts.who("wang.fang")
    histories = parts.retriever.search(manager, QUERY, k=20, kinds=["customer_history"])
    assert {hit.doc_id for hit in histories} == {library["li-history"], library["zhang-history"]}
    li_account = _first_account_of(parts.app, "li.wei").id
    by_account = parts.retriever.search(manager, QUERY, k=20, account_id=li_account)
    assert {hit.doc_id for hit in by_account} == {library["li-history"]}
    # Filtering on an account the caller may not read finds nothing, not that account's history.
    jason_account = _first_account_of(parts.app, "jason.reed").id
    assert parts.retriever.search(manager, QUERY, k=20, account_id=jason_account) == []


def test_the_dense_search_pushes_the_callers_documents_down_when_others_crowd_the_nearest(
    parts: Parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, rep = parts.who("ops.admin"), parts.who("li.wei")
    # 80 passages nearer the query than anything the rep may read, all in another rep's history.
    crowd = "\n\n".join(f"## {QUERY} note{number}\n\n{QUERY} item{number}." for number in range(80))
    parts.knowledge.add_file(
        admin,
        _file(tmp_path, QUERY, crowd),
        kind="customer_history",
        account_id=_first_account_of(parts.app, "zhang.min").id,
    )
    public = parts.knowledge.add_file(
        admin, _file(tmp_path, "pricing", f"Discount approval steps; see the {QUERY} for timing.")
    )
    wheres: list[object] = []
    query = parts.retriever.collection.query

    def recording(**kwargs: object) -> object:
        wheres.append(kwargs.get("where"))
        return query(**kwargs)

    monkeypatch.setattr(parts.retriever.collection, "query", recording)
    hits = parts.retriever.search(rep, QUERY, k=1, mode="dense")
    assert [hit.doc_id for hit in hits] == [public.doc_id]
    # The over-fetch found only the crowd; the second query named the rep's documents.
    assert wheres == [None, {"doc_id": {"$in": [public.doc_id]}}]


def test_nothing_is_searched_for_a_caller_who_may_read_no_document(parts: Parts) -> None:
    assert parts.retriever.search(Identity.anonymous("wecom", "nobody"), QUERY) == []
    assert parts.knowledge.list_documents(Identity.anonymous("wecom", "nobody")) == []
