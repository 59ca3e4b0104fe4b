"""Retrieval evaluation: labelled questions over the demo knowledge base, per search mode.

The questions live in `eval_questions.yaml` next to this file; each names the one demo document
(by file stem) whose content answers it. A hit is counted per document, not per chunk, because a
rep cites documents. This module scores a knowledge base that is already built; `copilot eval
retrieval` builds the demo one in its own data folder first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.core.identity import Identity
from retrieval._search import Retriever, SearchMode

__all__ = ["EVAL_IDENTITY", "MODES", "QUESTIONS_FILE", "EvalQuestion", "ModeScores", "evaluate", "load_questions"]

QUESTIONS_FILE = Path(__file__).parent / "eval_questions.yaml"
MODES: tuple[SearchMode, ...] = ("dense", "bm25", "hybrid")
EVAL_IDENTITY = "ops.admin"  # sees everything, so the customer histories are distractors too
RANK_DEPTH = 10

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    expected: str  # the document's file stem
    direction: str  # e.g. "zh->en": question language -> document language


@dataclass(frozen=True)
class ModeScores:
    hit_at_1: float
    hit_at_5: float
    mrr: float
    misses: tuple[str, ...]  # questions whose document was not in the top 5

    def as_dict(self) -> dict[str, float]:
        return {"hit@1": round(self.hit_at_1, 4), "hit@5": round(self.hit_at_5, 4), "mrr": round(self.mrr, 4)}


def load_questions(path: Path = QUESTIONS_FILE) -> list[EvalQuestion]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [EvalQuestion(item["q"], item["doc"], item["dir"]) for item in raw["questions"]]


def _document_ranking(retriever: Retriever, identity: Identity, question: str, mode: SearchMode) -> list[str]:
    ranked: list[str] = []
    for hit in retriever.search(identity, question, k=RANK_DEPTH * 4, mode=mode):
        stem = Path(hit.source).stem
        if stem not in ranked:
            ranked.append(stem)
    return ranked[:RANK_DEPTH]


def evaluate(
    retriever: Retriever,
    identity: Identity,
    questions: list[EvalQuestion],
    progress: Progress | None = None,
) -> dict[str, ModeScores]:
    """Score every mode on every question, searching as `identity` (normally EVAL_IDENTITY)."""
    results: dict[str, ModeScores] = {}
    total = len(questions) * len(MODES)
    done = 0
    for mode in MODES:
        hit1 = hit5 = reciprocal = 0.0
        misses: list[str] = []
        for item in questions:
            ranking = _document_ranking(retriever, identity, item.question, mode)
            if item.expected in ranking:
                rank = ranking.index(item.expected) + 1
                hit1 += rank == 1
                hit5 += rank <= 5
                reciprocal += 1.0 / rank
            if item.expected not in ranking[:5]:
                misses.append(item.question)
            done += 1
            if progress:
                progress(f"Evaluating {mode}", done, total)
        n = max(len(questions), 1)
        results[mode] = ModeScores(hit1 / n, hit5 / n, reciprocal / n, tuple(misses))
    return results
