"""Embedding matching for the customer cues the lexicons miss (paraphrases, other wording).

Each door concept has a few bilingual prototype sentences; a customer sentence close enough
to one (cosine on the multilingual Universal Sentence Encoder the knowledge base uses) opens
that door too. It only adds doors: whether the rep answered is still judged by the rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from transcription.gaps import Doors
from transcription.metrics import split_sentences
from transcription.ports import SentenceEmbedder
from transcription.turns import Turn

__all__ = ["PROTOTYPES", "SemanticDoors", "semantic_doors"]

logger = logging.getLogger(__name__)

PROTOTYPES: dict[str, list[str]] = {
    "budget": [
        "We don't have much money to spend this year.",
        "Our budget is limited.",
        "Anything above that amount needs approval from finance.",
        "今年的预算很有限。",
        "超过这个金额需要上级审批。",
    ],
    "price": [
        "Your price is higher than we expected.",
        "That is too expensive for us.",
        "你们的价格太贵了。",
        "这个报价比我们预期的高。",
    ],
    "competitor": [
        "We are also evaluating another vendor.",
        "Another supplier is giving us a demo next week.",
        "我们也在和另一家供应商谈。",
        "别的厂商也给我们报了价。",
    ],
    "concern": [
        "Our security team is worried about where the data is stored.",
        "Will it integrate with our existing systems?",
        "我们担心数据安全和合规的问题。",
        "能不能和我们现有的系统对接？",
    ],
    "strategy": [
        "Our company just announced a new strategic initiative.",
        "Leadership plans to expand into new markets next year.",
        "集团刚刚宣布了新的发展战略。",
        "公司明年计划开拓新的市场。",
    ],
    "pain": [
        "We keep having this problem and it costs us a lot.",
        "Our biggest headache is that things keep going wrong.",
        "这个问题一直困扰我们，损失很大。",
        "我们最头疼的就是效率太低。",
    ],
}


class SemanticDoors:
    def __init__(self, embedder: SentenceEmbedder, threshold: float) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self._prototypes: dict[str, np.ndarray] | None = None

    def _prototype_vectors(self) -> dict[str, np.ndarray]:
        if self._prototypes is None:  # computed once; a race only computes it twice
            self._prototypes = {concept: self.embedder.embed_documents(texts) for concept, texts in PROTOTYPES.items()}
        return self._prototypes

    def doors(self, turns: list[Turn]) -> Doors:
        """concept -> indices of customer turns with a sentence close to one of its prototypes."""
        sentences = [
            (t.index, s) for t in turns if t.speaker == "customer" for s in split_sentences(t.text) if len(s) >= 4
        ]
        if not sentences:
            return {}
        vectors = self.embedder.embed_documents([s for _, s in sentences])
        found: Doors = {}
        for concept, protos in self._prototype_vectors().items():
            scores = (vectors @ protos.T).max(axis=1)
            found[concept] = {sentences[i][0] for i in np.flatnonzero(scores >= self.threshold)}
        return found


def semantic_doors(load_embedder: Callable[[], SentenceEmbedder], threshold: float) -> SemanticDoors | None:
    """The embedding matcher, when `threshold` turns it on and the encoder loads; None means
    cues come from the lexicons only (the rules work without it)."""
    if threshold <= 0:
        return None
    try:
        return SemanticDoors(load_embedder(), threshold)
    except Exception:
        logger.warning("sentence embedder unavailable: gap cues by lexicon only", exc_info=True)
        return None
