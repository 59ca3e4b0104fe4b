"""What call analysis needs from the knowledge base, as Protocols.

`retrieval.Retriever` satisfies `KnowledgeSearch`: coaching searches it for micro-lessons, and
the embedding cue matcher uses its sentence encoder, so one encoder serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from bot.core.identity import Identity

__all__ = ["KnowledgeSearch", "LessonHit", "SentenceEmbedder"]


class SentenceEmbedder(Protocol):
    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """One L2-normalised vector per text (rows), so a dot product is a cosine."""
        ...


class LessonHit(Protocol):
    """One passage found in the knowledge base."""

    @property
    def doc_id(self) -> int: ...

    @property
    def title(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def text(self) -> str: ...


class KnowledgeSearch(Protocol):
    def search(
        self,
        identity: Identity,
        query: str,
        *,
        k: int | None = None,
        kinds: Sequence[str] | None = None,
        gap: str | None = None,
    ) -> Sequence[LessonHit]:
        """The k best passages `identity` may read, best first; `gap` keeps documents tagged
        with that gap type."""
        ...

    @property
    def embedder(self) -> SentenceEmbedder:
        """The sentence encoder behind the search (loaded on first use)."""
        ...
