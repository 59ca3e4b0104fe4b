"""Cross-lingual hybrid retrieval over the knowledge base, with permissions and citations."""

from retrieval._embedders import Embedder, build_embedder
from retrieval._search import ChunkRecord, Retriever, SearchHit, SearchMode, to_citations

__all__ = ["Retriever", "SearchHit", "SearchMode", "ChunkRecord", "to_citations", "Embedder", "build_embedder"]
