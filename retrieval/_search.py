"""Hybrid search over the knowledge base: dense (Chroma) + BM25, fused, permission-filtered.

The database is the source of truth for which version of a document is live and holds the
chunks' texts; Chroma holds their vectors and the metadata filters need. A chunk whose version is
not the document's current one is never returned. That makes a document update atomic for
readers (old chunks until the commit, new ones after) whatever Chroma holds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import bm25s
import chromadb
import numpy as np
from sqlalchemy import exists, func, select

from bot.core.channel import Citation
from bot.core.errors import ServiceUnavailable
from bot.core.identity import Identity
from bot.core.access import visible_account_ids
from bot.core.models import KnowledgeChunk, KnowledgeDocument, Role
from retrieval._embedders import ChromaEmbeddingFunction, Embedder, build_embedder
from retrieval._fusion import reciprocal_rank_fusion
from retrieval._text import tokenize

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["Retriever", "SearchHit", "ChunkRecord", "to_citations", "SearchMode"]

logger = logging.getLogger(__name__)

SearchMode = Literal["dense", "bm25", "hybrid"]
NO_ID = -1  # Chroma metadata cannot hold None
DENSE_OVERFETCH = 2  # nearest rows fetched per wanted one before the access filter


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
    """One chunk as stored: text plus the metadata filters and citations need."""

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

    def metadata(self) -> dict[str, Any]:
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


def _hit(chunk_id: str, text: str, meta: dict[str, Any], score: float) -> SearchHit:
    account = int(meta.get("account_id", NO_ID))
    return SearchHit(
        doc_id=int(meta["doc_id"]),
        chunk_id=chunk_id,
        title=str(meta["title"]),
        source=str(meta["source"]),
        kind=str(meta["kind"]),
        language=str(meta["language"]),
        account_id=None if account == NO_ID else account,
        text=text,
        score=score,
    )


@dataclass(frozen=True)
class _Access:
    """What one caller may read, as a Python predicate and as a Chroma `where`."""

    everything: bool
    accounts: frozenset[int]
    territory_id: int | None

    def allows(self, meta: dict[str, Any]) -> bool:
        if self.everything or meta["visibility"] == "everyone":
            return True
        if int(meta["account_id"]) in self.accounts:
            return True
        return (
            meta["visibility"] == "territory"
            and self.territory_id is not None
            and int(meta["territory_id"]) == self.territory_id
            and int(meta["account_id"]) == NO_ID
        )

    def where(self) -> dict[str, Any] | None:
        if self.everything:
            return None
        clauses: list[dict[str, Any]] = [{"visibility": "everyone"}]
        if self.accounts:
            clauses.append({"account_id": {"$in": sorted(self.accounts)}})
        if self.territory_id is not None:
            clauses.append(
                {"$and": [{"visibility": "territory"}, {"territory_id": self.territory_id}, {"account_id": NO_ID}]}
            )
        return clauses[0] if len(clauses) == 1 else {"$or": clauses}


class _Bm25Index:
    def __init__(self, signature: tuple, ids: list[str], texts: list[str], metas: list[dict[str, Any]]) -> None:
        self.signature = signature
        self.ids, self.texts, self.metas = ids, texts, metas
        self.model: bm25s.BM25 | None = None
        if ids:
            self.model = bm25s.BM25()
            self.model.index([tokenize(t) or ["<empty>"] for t in texts], show_progress=False)

    def rank(self, query: str, limit: int) -> list[tuple[int, float]]:
        tokens = tokenize(query)
        if self.model is None or not tokens:
            return []
        limit = min(limit, len(self.ids))
        positions, scores = self.model.retrieve([tokens], k=limit, show_progress=False)
        return [(int(p), float(s)) for p, s in zip(positions[0], scores[0]) if s > 0]


class Retriever:
    """Search the knowledge base as a given caller. Thread-safe; one per process."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings
        self._embedder: Embedder | None = None
        self._collection: Any = None
        self._bm25: _Bm25Index | None = None
        self._lock = threading.RLock()

    # --- parts ---------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = build_embedder(self.settings)
            return self._embedder

    @property
    def collection(self) -> Any:
        with self._lock:
            if self._collection is None:
                try:
                    if self.settings.chroma_host:
                        client = chromadb.HttpClient(host=self.settings.chroma_host, port=self.settings.chroma_port)
                    else:
                        client = chromadb.PersistentClient(path=str(self.settings.chroma_dir))
                except Exception as exc:
                    raise ServiceUnavailable("The knowledge store is not reachable right now.") from exc
                name = f"{self.settings.chroma_collection}-{self.embedder.name}"
                self._collection = client.get_or_create_collection(
                    name=name,
                    embedding_function=ChromaEmbeddingFunction(self.embedder),
                    metadata={"hnsw:space": "cosine"},
                )
                self._backfill_chunk_texts()
            return self._collection

    def _backfill_chunk_texts(self) -> None:
        """Copy chunk texts from Chroma into the database once, for a knowledge base ingested
        before texts moved there (migration 0003)."""
        with self.app.db.session() as session:
            if session.scalar(select(exists().where(KnowledgeChunk.id.isnot(None)))) or not session.scalar(
                select(exists().where(KnowledgeDocument.chunk_count > 0))
            ):
                return
            live = dict(session.execute(select(KnowledgeDocument.id, KnowledgeDocument.version)).all())
            stored = self._collection.get(include=["documents", "metadatas"])
            rows = [
                KnowledgeChunk(
                    id=chunk_id, document_id=int(meta["doc_id"]), version=int(meta["version"]),
                    position=int(meta["position"]), text=text,
                )
                for chunk_id, text, meta in zip(stored["ids"], stored["documents"], stored["metadatas"])
                if text is not None and live.get(int(meta["doc_id"])) == int(meta["version"])
            ]
            session.add_all(rows)
        logger.info("copied %d chunk texts from the vector store into the database", len(rows))

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
        where: dict[str, Any] = {"doc_id": doc_id}
        if keep_version is not None:
            where = {"$and": [{"doc_id": doc_id}, {"version": {"$ne": keep_version}}]}
        self.collection.delete(where=where)

    def delete_ids(self, ids: Sequence[str]) -> None:
        if ids:
            self.collection.delete(ids=list(ids))

    # --- reading -----------------------------------------------------------------------------
    def _access(self, identity: Identity) -> _Access:
        if identity.role is Role.ADMIN:
            return _Access(True, frozenset(), None)
        if identity.role in (Role.REP, Role.MANAGER):
            with self.app.db.session() as session:
                accounts = visible_account_ids(session, identity) or set()
            territory = identity.territory_id if identity.role is Role.MANAGER else None
            return _Access(False, frozenset(accounts), territory)
        return _Access(False, frozenset(), None)

    def _live_versions(self) -> dict[int, int]:
        with self.app.db.session() as session:
            return dict(session.execute(select(KnowledgeDocument.id, KnowledgeDocument.version)).all())

    def _signature(self) -> tuple:
        with self.app.db.session() as session:
            return tuple(
                session.execute(
                    select(
                        func.count(KnowledgeDocument.id),
                        func.coalesce(func.sum(KnowledgeDocument.version), 0),
                        func.max(KnowledgeDocument.updated_at),
                    )
                ).one()
            )

    def warm_up(self) -> None:
        """Load the embedder and the store and build the keyword index, so the first question
        does not pay for them."""
        self.embedder.embed_query("warm up")
        if self.collection.count():
            self._bm25_index()

    def _texts(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        with self.app.db.session() as session:
            rows = session.execute(select(KnowledgeChunk.id, KnowledgeChunk.text).where(KnowledgeChunk.id.in_(chunk_ids)))
            return dict(rows.all())

    def _bm25_index(self) -> _Bm25Index:
        signature = self._signature()
        with self._lock:
            if self._bm25 is None or self._bm25.signature != signature:
                stored = self.collection.get(include=["metadatas"])
                with self.app.db.session() as session:
                    texts = dict(session.execute(select(KnowledgeChunk.id, KnowledgeChunk.text)).all())
                kept = [(i, m) for i, m in zip(stored["ids"], stored["metadatas"]) if i in texts]
                self._bm25 = _Bm25Index(
                    signature, [i for i, _ in kept], [texts[i] for i, _ in kept], [m for _, m in kept]
                )
            return self._bm25

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
        access = self._access(identity)
        live = self._live_versions()

        def wanted(meta: dict[str, Any]) -> bool:
            return (
                live.get(int(meta["doc_id"])) == int(meta["version"])
                and access.allows(meta)
                and (not kinds or meta["kind"] in kinds)
                and (account_id is None or int(meta["account_id"]) == account_id)
                and (gap is None or meta.get("gap") == gap)
            )

        pool = max(k * 5, 30)
        found: dict[str, dict[str, Any]] = {}
        dense_rank: list[str] = []
        best_similarity = best_bm25 = 0.0
        if mode in ("dense", "hybrid"):
            for chunk_id, meta, distance in self._dense(query, pool, access, wanted, kinds, account_id, gap):
                found[chunk_id] = meta
                dense_rank.append(chunk_id)
                best_similarity = max(best_similarity, 1.0 - distance)
        sparse_rank: list[str] = []
        if mode in ("bm25", "hybrid"):
            index = self._bm25_index()
            for position, score in index.rank(query, pool * 4):
                meta = index.metas[position]
                if wanted(meta):
                    chunk_id = index.ids[position]
                    found.setdefault(chunk_id, meta)
                    sparse_rank.append(chunk_id)
                    best_bm25 = max(best_bm25, score)
                    if len(sparse_rank) >= pool:
                        break
        off_topic = best_similarity < self.settings.retrieval_min_similarity and best_bm25 < self.settings.retrieval_min_bm25
        if off_topic and gap is None and account_id is None:
            # Nothing in the knowledge base is about this (a caller filtering on a gap or an
            # account asked for those documents by key, not by topic).
            return []
        fused = reciprocal_rank_fusion(
            [dense_rank, sparse_rank], k=self.settings.retrieval_rrf_k, weights=[1.0, self.settings.retrieval_bm25_weight]
        )
        # A chunk replaced since it was ranked has no text any more: skip it.
        texts = self._texts([chunk_id for chunk_id, _ in fused[: k * 2]])
        best = [(chunk_id, score) for chunk_id, score in fused if chunk_id in texts][:k]
        return [_hit(chunk_id, texts[chunk_id], found[chunk_id], score) for chunk_id, score in best]

    def _dense(
        self,
        query: str,
        limit: int,
        access: _Access,
        wanted: Callable[[dict[str, Any]], bool],
        kinds: Sequence[str] | None,
        account_id: int | None,
        gap: str | None,
    ) -> list[tuple[str, dict[str, Any], float]]:
        """The `limit` nearest chunks the caller may read, nearest first.

        A broad `where` (such as a rep's access) makes Chroma scan its metadata for every query
        (~35 ms at 10k chunks), so the first query carries only the selective filters and
        over-fetches; `wanted` applies the access rules in Python. Only when too few of those
        pass does a second query push the whole filter down to Chroma.
        """
        if self.collection.count() == 0:
            return []
        selective: list[dict[str, Any]] = []
        if kinds:
            selective.append({"kind": {"$in": list(kinds)}})
        if account_id is not None:
            selective.append({"account_id": account_id})
        if gap is not None:
            selective.append({"gap": gap})
        vector = np.asarray(self.embedder.embed_query(query), dtype=np.float32).tolist()
        fetch = limit * DENSE_OVERFETCH
        rows = self._nearest(vector, fetch, selective)
        allowed = [row for row in rows if wanted(row[1])]
        if len(allowed) >= limit or len(rows) < fetch:
            return allowed[:limit]
        access_where = access.where()
        if access_where is not None:
            selective.insert(0, access_where)
        return [row for row in self._nearest(vector, limit, selective) if wanted(row[1])]

    def _nearest(
        self, vector: list[float], n: int, clauses: list[dict[str, Any]]
    ) -> list[tuple[str, dict[str, Any], float]]:
        where = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        result = self.collection.query(
            query_embeddings=[vector], n_results=n, where=where, include=["metadatas", "distances"]
        )
        return list(zip(result["ids"][0], result["metadatas"][0], result["distances"][0]))


def to_citations(hits: Sequence[SearchHit]) -> list[Citation]:
    """One numbered citation per document, in rank order: [1], [2], ..."""
    citations: list[Citation] = []
    seen: dict[int, int] = {}
    for hit in hits:
        if hit.doc_id in seen:
            continue
        seen[hit.doc_id] = len(citations) + 1
        citations.append(Citation(len(citations) + 1, hit.doc_id, hit.title, hit.source, hit.text[:200]))
    return citations
