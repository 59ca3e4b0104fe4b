"""Hybrid search over the knowledge base: dense (Chroma) + BM25, fused, filtered by access.

The database is the source of truth for which version of a document is live, for who may read
it (`bot.core.access.documents`) and for the chunks' texts; Chroma holds their vectors and the
metadata the selective filters (kind, account, gap) need. A chunk is returned only when its
document is one the caller may read and its version is that document's current one. That
makes a document update atomic for readers (old chunks until the commit, new ones after)
whatever Chroma holds.

Ranking is question-aware: when a question names a company, a product or a period, the
documents whose title, file name or opening passages name them gain on their fused score (and, of
those, documents of another period lose), and their best passages join the candidates even when
the shared vocabulary of look-alike documents kept them out of the first lists (`_query`).
Optionally, multilingual-e5 then reranks the best fused candidates.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core import access
from bot.core.channel import Citation
from bot.core.db import SessionFactory
from bot.core.identity import Identity
from bot.core.models import KnowledgeChunk, KnowledgeDocument
from bot.core.settings import Settings
from retrieval._embedders import Embedder, build_embedder
from retrieval._fusion import add_document_prior, reciprocal_rank_fusion, rerank
from retrieval._query import DocumentProfile, Question, analyse, document_prior
from retrieval._text import tokenize

if TYPE_CHECKING:
    import bm25s
    import numpy as np
    from chromadb import Collection
    from chromadb.base_types import (
        InclusionExclusionOperator,
        LiteralValue,
        LogicalOperator,
        Metadata,
        Where,
        WhereOperator,
    )

__all__ = ["ChunkRecord", "Retriever", "SearchHit", "SearchMode", "to_citations"]

SearchMode = Literal["dense", "bm25", "hybrid"]
NO_ID = -1  # Chroma metadata cannot hold None
DENSE_OVERFETCH = 2  # nearest rows fetched per wanted one before the Python filter
# A question pointing at more documents than this is too broad to fetch their passages apart.
MAX_POINTED_DOCUMENTS = 16
# Passages read as a document's opening: a cover page or a heading often follows a contents page.
OPENING_PASSAGES = 3
RERANK_CACHE = 4096  # passages whose reranker vectors are kept (a chunk id's text never changes)

ChunkMetadata: TypeAlias = dict[str, str | int]
"""What Chroma stores with each vector (see `ChunkRecord.metadata`)."""


@dataclass(frozen=True)
class SearchHit:
    doc_id: int
    chunk_id: str
    title: str
    source: str
    kind: str
    language: str
    account_id: int | None
    text: str
    score: float


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk as written: text plus the metadata filters and citations need."""

    chunk_id: str
    text: str
    doc_id: int
    version: int
    title: str
    source: str
    kind: str
    language: str
    visibility: str
    account_id: int | None
    territory_id: int | None
    gap: str | None
    position: int

    def metadata(self) -> ChunkMetadata:
        # visibility and territory_id are kept for operators reading the store; access is
        # decided from the database, never from these.
        return {
            "doc_id": self.doc_id,
            "version": self.version,
            "title": self.title,
            "source": self.source,
            "kind": self.kind,
            "language": self.language,
            "visibility": self.visibility,
            "account_id": self.account_id if self.account_id is not None else NO_ID,
            "territory_id": self.territory_id if self.territory_id is not None else NO_ID,
            "gap": self.gap or "",
            "position": self.position,
        }


@dataclass(frozen=True)
class _StoredChunk:
    """A chunk as read back from Chroma: what filtering and citing need, typed."""

    chunk_id: str
    doc_id: int
    version: int
    title: str
    source: str
    kind: str
    language: str
    account_id: int | None
    gap: str | None

    @classmethod
    def of(cls, chunk_id: str, meta: Metadata) -> _StoredChunk:
        account = int(_scalar(meta, "account_id"))
        return cls(
            chunk_id=chunk_id,
            doc_id=int(_scalar(meta, "doc_id")),
            version=int(_scalar(meta, "version")),
            title=str(_scalar(meta, "title")),
            source=str(_scalar(meta, "source")),
            kind=str(_scalar(meta, "kind")),
            language=str(_scalar(meta, "language")),
            account_id=None if account == NO_ID else account,
            gap=str(meta.get("gap") or "") or None,
        )

    def hit(self, text: str, score: float) -> SearchHit:
        return SearchHit(
            doc_id=self.doc_id,
            chunk_id=self.chunk_id,
            title=self.title,
            source=self.source,
            kind=self.kind,
            language=self.language,
            account_id=self.account_id,
            text=text,
            score=score,
        )


def _scalar(meta: Metadata, key: str) -> str | int | float | bool:
    value = meta.get(key)
    if not isinstance(value, str | int | float | bool):
        raise ValueError(f"chunk metadata '{key}' is {value!r}")
    return value


def _one_of(field: str, values: Sequence[LiteralValue]) -> Where:
    operator: dict[InclusionExclusionOperator, list[LiteralValue]] = {"$in": list(values)}
    return {field: operator}


def _all_of(clauses: Sequence[Where]) -> Where | None:
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": list(clauses)}


@dataclass(frozen=True)
class _Wanted:
    """Which chunks one search may return: those of the documents the caller may read, at their
    live version (from the database), narrowed by the search's selective filters."""

    live: Mapping[int, int]  # visible document id -> its live version
    everything: bool  # the caller may read every document: no access filter to push down
    kinds: frozenset[str] | None
    account_id: int | None
    gap: str | None

    def __call__(self, chunk: _StoredChunk) -> bool:
        return (
            self.live.get(chunk.doc_id) == chunk.version
            and (self.kinds is None or chunk.kind in self.kinds)
            and (self.account_id is None or chunk.account_id == self.account_id)
            and (self.gap is None or chunk.gap == self.gap)
        )

    def selective(self) -> list[Where]:
        """The filters that narrow a search a lot, cheap for Chroma to apply."""
        clauses: list[Where] = []
        if self.kinds is not None:
            clauses.append(_one_of("kind", sorted(self.kinds)))
        if self.account_id is not None:
            clauses.append({"account_id": self.account_id})
        if self.gap is not None:
            clauses.append({"gap": self.gap})
        return clauses

    def pushed_down(self) -> list[Where]:
        """The selective filters plus the caller's documents, for Chroma to apply itself."""
        if self.everything:
            return self.selective()
        return [_one_of("doc_id", sorted(self.live)), *self.selective()]


_Signature: TypeAlias = tuple[object, ...]


def _signature(session: Session) -> _Signature:
    """Changes whenever a document is added, replaced or removed (the keyword index's key)."""
    return tuple(
        session.execute(
            select(
                func.count(KnowledgeDocument.id),
                func.coalesce(func.sum(KnowledgeDocument.version), 0),
                func.max(KnowledgeDocument.updated_at),
            )
        ).one()
    )


class _Bm25Index:
    def __init__(self, signature: _Signature, chunks: list[_StoredChunk], texts: list[str]) -> None:
        self.signature = signature
        self.chunks = chunks
        self.model: bm25s.BM25 | None = None
        if chunks:
            import bm25s  # a quarter of a second to import: only once there is something to index
            import numpy as np

            self.model = bm25s.BM25()
            self.model.index([tokenize(text) or ["<empty>"] for text in texts], show_progress=False)
            self.doc_ids = np.array([chunk.doc_id for chunk in chunks])

    def rank(self, query: str, limit: int, within: Sequence[int] | None = None) -> list[tuple[_StoredChunk, float]]:
        """The best `limit` chunks for `query`, of the documents `within` when given."""
        tokens = tokenize(query)
        if self.model is None or not tokens:
            return []
        import numpy as np

        mask = None if within is None else np.isin(self.doc_ids, list(within)).astype(np.float32)
        positions, scores = self.model.retrieve(
            [tokens], k=min(limit, len(self.chunks)), show_progress=False, weight_mask=mask
        )
        return [(self.chunks[int(p)], float(s)) for p, s in zip(positions[0], scores[0], strict=True) if s > 0]


class Retriever:
    """Search the knowledge base as a given caller. Thread-safe; one per process.

    The embedder and the Chroma collection are opened on first use, so building a retriever
    (or importing this package) loads no model and no vector store.
    """

    def __init__(self, settings: Settings, sessions: SessionFactory, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self._embedder = embedder
        self._collection: Collection | None = None
        self._bm25: _Bm25Index | None = None
        self._profiles: tuple[_Signature, dict[int, DocumentProfile]] | None = None
        self._reranker: Embedder | None = None
        self._rerank_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.RLock()

    # --- parts ---------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = build_embedder(self.settings)
            return self._embedder

    @property
    def reranker(self) -> Embedder:
        """multilingual-e5, the second stage: the embedder itself when it is e5 already."""
        with self._lock:
            if self._reranker is None:
                from retrieval._encoders import MultilingualE5

                embedder = self.embedder
                self._reranker = (
                    embedder if embedder.name == MultilingualE5.name else MultilingualE5(self.settings.cpu_threads)
                )
            return self._reranker

    @property
    def collection(self) -> Collection:
        with self._lock:
            if self._collection is None:
                from retrieval._store import open_collection

                self._collection = open_collection(self.settings, self.embedder)
            return self._collection

    # --- writing (used by the knowledge base) ----------------------------------------------
    def add_chunks(self, chunks: Sequence[ChunkRecord], batch: int = 256) -> None:
        """Store the chunks' vectors and metadata; their texts go in the database, written by
        the caller in the transaction that makes their version live."""
        for start in range(0, len(chunks), batch):
            part = chunks[start : start + batch]
            vectors = self.embedder.embed_documents([c.text for c in part])
            self.collection.upsert(
                ids=[c.chunk_id for c in part],
                embeddings=[v.tolist() for v in vectors],
                metadatas=[c.metadata() for c in part],
            )

    def delete_chunks(self, doc_id: int, keep_version: int | None = None) -> None:
        where: Where = {"doc_id": doc_id}
        if keep_version is not None:
            other_version: dict[WhereOperator | LogicalOperator, LiteralValue] = {"$ne": keep_version}
            where = {"$and": [{"doc_id": doc_id}, {"version": other_version}]}
        self.collection.delete(where=where)

    def delete_ids(self, ids: Sequence[str]) -> None:
        if ids:
            self.collection.delete(ids=list(ids))

    # --- reading -----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Load the embedder and the store and build the keyword index and the documents'
        profiles, so the first question does not pay for them."""
        self.embedder.embed_query("warm up")
        if self.settings.retrieval_rerank == "e5":
            self.reranker.embed_query("warm up")
        if self._question_aware:
            analyse("预热")  # loads the Chinese part-of-speech tagger (~2 s)
        if self.collection.count():
            with self.sessions() as session:
                signature = _signature(session)
            self._bm25_index(signature)
            if self._question_aware:
                self._document_profiles(signature)

    def search(
        self,
        identity: Identity,
        query: str,
        *,
        k: int | None = None,
        kinds: Sequence[str] | None = None,
        account_id: int | None = None,
        gap: str | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[SearchHit]:
        """The k best passages for this caller, best first (at most one per chunk)."""
        k = k or self.settings.retrieval_top_k
        query = query.strip()
        if not query:
            return []
        question = analyse(query) if self._question_aware else Question()
        rule = access.documents(identity)
        with self.sessions() as session:
            # The documents the caller may read, at their live versions: the one access decision.
            live = dict(
                session.execute(
                    select(KnowledgeDocument.id, KnowledgeDocument.version).where(rule.clause(KnowledgeDocument))
                )
                .tuples()
                .all()
            )
            indexed = mode != "dense" or not question.names_nothing
            signature = _signature(session) if indexed else None
        if not live:
            return []
        wanted = _Wanted(live, rule.everything, frozenset(kinds) if kinds else None, account_id, gap)
        prior = self._document_prior(question, signature, live) if signature is not None else {}
        pointed = _pointed(prior, len(live))

        pool = max(k * 5, 30)
        found: dict[str, _StoredChunk] = {}
        dense_rank: list[str] = []
        best_similarity = best_bm25 = 0.0
        if mode in ("dense", "hybrid"):
            for chunk, distance in self._dense(query, pool, wanted, pointed):
                found[chunk.chunk_id] = chunk
                dense_rank.append(chunk.chunk_id)
                best_similarity = max(best_similarity, 1.0 - distance)
        sparse_rank: list[str] = []
        if signature is not None and mode in ("bm25", "hybrid"):
            index = self._bm25_index(signature)
            sparse = _wanted_rows(index.rank(query, pool * 4), wanted, pool)
            if pointed:
                # The pointed documents' best passages by the same scores, wherever they rank.
                sparse = _by_score(sparse + _wanted_rows(index.rank(query, pool, within=pointed), wanted, pool))
            for chunk, score in sparse:
                found.setdefault(chunk.chunk_id, chunk)
                sparse_rank.append(chunk.chunk_id)
                best_bm25 = max(best_bm25, score)
        off_topic = (
            best_similarity < self.settings.retrieval_min_similarity and best_bm25 < self.settings.retrieval_min_bm25
        )
        if off_topic and gap is None and account_id is None:
            # Nothing in the knowledge base is about this (a caller filtering on a gap or an
            # account asked for those documents by key, not by topic).
            return []
        fused = reciprocal_rank_fusion(
            [dense_rank, sparse_rank],
            k=self.settings.retrieval_rrf_k,
            weights=[1.0, self.settings.retrieval_bm25_weight],
        )
        document_of = {chunk_id: chunk.doc_id for chunk_id, chunk in found.items()}
        fused = add_document_prior(fused, document_of, prior)
        top_n = self.settings.retrieval_rerank_top_n if self.settings.retrieval_rerank == "e5" else 0
        # A chunk replaced since it was ranked has no text any more: skip it.
        texts = self._texts([chunk_id for chunk_id, _ in fused[: max(k * 2, top_n)]])
        fused = [(chunk_id, score) for chunk_id, score in fused if chunk_id in texts]
        if top_n:
            head = {chunk_id: texts[chunk_id] for chunk_id, _ in fused[:top_n]}
            similarity = self._similarities(query, head)
            fused = rerank(fused, similarity, k=self.settings.retrieval_rrf_k, document_of=document_of, prior=prior)
        return [found[chunk_id].hit(texts[chunk_id], score) for chunk_id, score in fused[:k]]

    def _similarities(self, query: str, texts: Mapping[str, str]) -> dict[str, float]:
        """The reranker's cosine similarity of the query to each passage; passage vectors are
        cached by chunk id, since embedding a passage costs e5 a third of a second on 2 cores."""
        with self._lock:
            vectors = {
                chunk_id: self._rerank_vectors[chunk_id] for chunk_id in texts if chunk_id in self._rerank_vectors
            }
        missing = [chunk_id for chunk_id in texts if chunk_id not in vectors]
        if missing:
            embedded = self.reranker.embed_documents([texts[chunk_id] for chunk_id in missing])
            vectors.update(zip(missing, embedded, strict=True))
        with self._lock:
            for chunk_id, vector in vectors.items():
                self._rerank_vectors[chunk_id] = vector
                self._rerank_vectors.move_to_end(chunk_id)
            while len(self._rerank_vectors) > RERANK_CACHE:
                self._rerank_vectors.popitem(last=False)
        question = self.reranker.embed_query(query)
        return {chunk_id: float(vector @ question) for chunk_id, vector in vectors.items()}

    @property
    def _question_aware(self) -> bool:
        return self.settings.retrieval_name_weight > 0 or self.settings.retrieval_period_weight > 0

    def _document_prior(self, question: Question, signature: _Signature, live: Mapping[int, int]) -> dict[int, float]:
        """What the question's names and periods say of each document the caller may read."""
        if question.names_nothing:
            return {}
        profiles = self._document_profiles(signature)
        visible = {doc_id: profile for doc_id, profile in profiles.items() if doc_id in live}
        return document_prior(
            question,
            visible,
            name_weight=self.settings.retrieval_name_weight,
            period_weight=self.settings.retrieval_period_weight,
        )

    def _document_profiles(self, signature: _Signature) -> dict[int, DocumentProfile]:
        """Each live document's title, file name and opening passages, read as periods and names;
        rebuilt only when a document changes, so a question costs no scan of the texts."""
        with self._lock:
            if self._profiles is None or self._profiles[0] != signature:
                opening = (
                    (KnowledgeChunk.document_id == KnowledgeDocument.id)
                    & (KnowledgeChunk.version == KnowledgeDocument.version)
                    & (KnowledgeChunk.position < OPENING_PASSAGES)
                )
                query = (
                    select(
                        KnowledgeDocument.id,
                        KnowledgeDocument.title,
                        KnowledgeDocument.source_path,
                        KnowledgeChunk.text,
                    )
                    .outerjoin(KnowledgeChunk, opening)
                    .order_by(KnowledgeDocument.id, KnowledgeChunk.position)
                )
                documents: dict[int, tuple[str, str, list[str]]] = {}
                with self.sessions() as session:
                    for doc_id, title, source, text in session.execute(query).tuples():
                        documents.setdefault(doc_id, (title, source, []))[2].append(text or "")
                profiles = {
                    doc_id: DocumentProfile.of(title, source, "\n".join(texts))
                    for doc_id, (title, source, texts) in documents.items()
                }
                self._profiles = (signature, profiles)
            return self._profiles[1]

    def _texts(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        with self.sessions() as session:
            rows = session.execute(
                select(KnowledgeChunk.id, KnowledgeChunk.text).where(KnowledgeChunk.id.in_(chunk_ids))
            )
            return dict(rows.tuples().all())

    def _bm25_index(self, signature: _Signature) -> _Bm25Index:
        with self._lock:
            if self._bm25 is None or self._bm25.signature != signature:
                stored = self.collection.get(include=["metadatas"])
                with self.sessions() as session:
                    texts = dict(session.execute(select(KnowledgeChunk.id, KnowledgeChunk.text)).tuples().all())
                chunks = [
                    _StoredChunk.of(chunk_id, meta)
                    for chunk_id, meta in zip(stored["ids"], stored["metadatas"] or [], strict=True)
                    if chunk_id in texts
                ]
                self._bm25 = _Bm25Index(signature, chunks, [texts[c.chunk_id] for c in chunks])
            return self._bm25

    def _dense(
        self, query: str, limit: int, wanted: _Wanted, pointed: Sequence[int] = ()
    ) -> list[tuple[_StoredChunk, float]]:
        """The `limit` nearest chunks the search wants, nearest first, with their distances, and
        the `limit` nearest of the `pointed` documents wherever they rank.

        A broad `where` (such as the dozens of documents a rep may read) makes Chroma scan its
        metadata for every query (~35 ms at 10k chunks), so the first query carries only the
        selective filters and over-fetches; `wanted` applies access in Python. Only when too few
        of those pass does a second query push the caller's documents down to Chroma.
        """
        if self.collection.count() == 0:
            return []
        vector = self.embedder.embed_query(query).astype("float32", copy=False)
        fetch = limit * DENSE_OVERFETCH
        rows = self._nearest(vector, fetch, wanted.selective())
        allowed = [row for row in rows if wanted(row[0])]
        if len(allowed) < limit and len(rows) >= fetch:
            allowed = [row for row in self._nearest(vector, limit, wanted.pushed_down()) if wanted(row[0])]
        allowed = allowed[:limit]
        if pointed:
            # Same query vector, so the distances compare: merged, the order is the true one.
            narrowed = [_one_of("doc_id", list(pointed)), *wanted.selective()]
            extra = [row for row in self._nearest(vector, limit, narrowed) if wanted(row[0])]
            allowed = sorted({row[0].chunk_id: row for row in allowed + extra}.values(), key=lambda row: row[1])
        return allowed

    def _nearest(self, vector: np.ndarray, n: int, clauses: Sequence[Where]) -> list[tuple[_StoredChunk, float]]:
        result = self.collection.query(
            query_embeddings=vector, n_results=n, where=_all_of(clauses), include=["metadatas", "distances"]
        )
        metadatas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        return [
            (_StoredChunk.of(chunk_id, meta), distance)
            for chunk_id, meta, distance in zip(result["ids"][0], metadatas, distances, strict=True)
        ]


def _pointed(prior: Mapping[int, float], visible: int) -> list[int]:
    """The documents a question points at (those with the best prior), when it singles out a few."""
    best = max(prior.values(), default=0.0)
    if best <= 0:
        return []
    pointed = sorted(doc_id for doc_id, score in prior.items() if score >= best - 1e-9)
    return pointed if len(pointed) < visible and len(pointed) <= MAX_POINTED_DOCUMENTS else []


def _wanted_rows(
    rows: Sequence[tuple[_StoredChunk, float]], wanted: _Wanted, limit: int
) -> list[tuple[_StoredChunk, float]]:
    return [row for row in rows if wanted(row[0])][:limit]


def _by_score(rows: Sequence[tuple[_StoredChunk, float]]) -> list[tuple[_StoredChunk, float]]:
    """Rows of one BM25 query merged (its scores compare): best first, each chunk once."""
    return sorted({row[0].chunk_id: row for row in rows}.values(), key=lambda row: -row[1])


def to_citations(hits: Sequence[SearchHit]) -> list[Citation]:
    """One numbered citation per document, in rank order: [1], [2], ..."""
    citations: list[Citation] = []
    seen: set[int] = set()
    for hit in hits:
        if hit.doc_id in seen:
            continue
        seen.add(hit.doc_id)
        citations.append(Citation(len(citations) + 1, hit.doc_id, hit.title, hit.source, hit.text[:200]))
    return citations
