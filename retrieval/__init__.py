"""Cross-lingual hybrid retrieval over the knowledge base, filtered by the one access policy, with citations."""

from retrieval._embedders import Embedder, build_embedder
from retrieval._search import ChunkRecord, Retriever, SearchHit, SearchMode, to_citations
from retrieval._text import tokenize

__all__ = [
    "ChunkRecord",
    "Embedder",
    "Retriever",
    "SearchHit",
    "SearchMode",
    "build_embedder",
    "to_citations",
    "tokenize",
]
