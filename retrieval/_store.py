"""The Chroma collection that holds the chunks' vectors and filter metadata.

Imported only when a collection is first opened: chromadb costs most of a second to import,
and a webhook process that never searches should not pay for it.
"""

from __future__ import annotations

from typing import Any

import chromadb
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space

from bot.core.errors import ConfigurationError, ServiceUnavailable
from bot.core.settings import Settings
from retrieval._embedders import Embedder

__all__ = ["ChromaEmbeddingFunction", "open_collection"]


class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Hands our embedder to Chroma, so Chroma never loads (or downloads) its default model."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._embedder.embed_documents(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        return [self._embedder.embed_query(text) for text in input]

    @staticmethod
    def name() -> str:
        return "sales-copilot"

    def default_space(self) -> Space:
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self._embedder.name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        raise ConfigurationError(
            f"Open the knowledge collection through the copilot (embedder {config.get('embedder')})."
        )


def open_collection(settings: Settings, embedder: Embedder) -> chromadb.Collection:
    """The collection of `embedder` (each embedder has its own: vectors of two models don't mix),
    on the Chroma server the settings name or in the local folder."""
    try:
        if settings.chroma_host:
            client: chromadb.ClientAPI = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port)
        else:
            client = chromadb.PersistentClient(path=str(settings.chroma_dir))
    except Exception as exc:
        raise ServiceUnavailable("The knowledge store is not reachable right now.") from exc
    return client.get_or_create_collection(
        name=f"{settings.chroma_collection}-{embedder.name}",
        # Chroma's own text embedders are typed like this one; its signature asks for an
        # embedder of texts *and* images, which none of them is.
        embedding_function=ChromaEmbeddingFunction(embedder),  # type: ignore[arg-type]
        metadata={"hnsw:space": "cosine"},
    )
