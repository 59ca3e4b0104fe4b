"""What an embedder is, and the one the settings choose (`COPILOT_EMBEDDING_BACKEND`).

Building one loads its model; the models' code (and numpy) is imported only then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bot.core.errors import ConfigurationError
from bot.core.settings import Settings

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Embedder", "build_embedder"]


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (cosine similarity is a dot product)."""

    name: str  # names the vector collection: vectors of two models never mix

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def build_embedder(settings: Settings) -> Embedder:
    from retrieval import _encoders

    backend = settings.embedding_backend
    if backend == "use":
        return _encoders.UniversalSentenceEncoder(settings.cpu_threads)
    if backend == "e5":
        return _encoders.MultilingualE5(settings.cpu_threads)
    if backend == "sentence-transformers":
        return _encoders.SentenceTransformerEmbedder(settings.embedding_model, settings.cpu_threads)
    raise ConfigurationError(f"Unknown embedding backend '{backend}'.")
