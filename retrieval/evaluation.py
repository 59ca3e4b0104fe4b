"""Retrieval evaluation: labelled questions over a knowledge base.

Two sets. The demo one: the questions in `eval_questions.yaml` next to this file each name the
one demo document (by file stem) whose content answers it, scored per search mode. A folder of
documents with its own questions (`load_sourced_questions`: a CSV or YAML naming each question's
source documents by file-name pattern, such as `*2023 Q3 AAPL*` or `*AAPL*`), scored on the
search as configured, per question type and per split, with its latency.

A hit is counted per document, not per chunk, because a rep cites documents. This module scores
a knowledge base that is already built; `copilot eval retrieval` builds one in its own data
folder first.
"""

from __future__ import annotations

import csv
import hashlib
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePath

import yaml

from bot.core.errors import InvalidInput
from bot.core.identity import Identity
from retrieval._search import Retriever, SearchMode

__all__ = [
    "EVAL_IDENTITY",
    "MODES",
    "QUESTIONS_FILE",
    "EvalQuestion",
    "ModeScores",
    "Scores",
    "SourcedQuestion",
    "SourcesReport",
    "evaluate",
    "evaluate_sources",
    "load_questions",
    "load_sourced_questions",
]

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


# --- a folder of documents and its questions ------------------------------------------------------
@dataclass(frozen=True)
class SourcedQuestion:
    question: str
    sources: tuple[str, ...]  # file-name patterns of the documents that answer it, e.g. "*2023 Q3 AAPL*"
    kind: str  # the question's type, as the question file names it

    @property
    def split(self) -> str:
        """Tune on "dev", report "test": the parity of the first hex digit of the question's SHA-1
        (even: dev), so the split stays the same whatever order or subset is loaded."""
        digit = int(hashlib.sha1(self.question.encode("utf-8")).hexdigest()[0], 16)
        return "dev" if digit % 2 == 0 else "test"

    def answered_by(self, filename: str) -> bool:
        name = filename.lower()
        return any(fnmatchcase(name, pattern.lower()) for pattern in self.sources)


def _patterns(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value or "").replace(";", ",").replace("\n", ",").split(",")
    return tuple(p for item in items if (p := str(item).strip()))


def _field(row: dict[str, object], *names: str) -> object:
    lowered = {str(key).strip().lower(): value for key, value in row.items()}
    return next((lowered[name] for name in names if lowered.get(name) not in (None, "")), None)


def load_sourced_questions(path: Path) -> list[SourcedQuestion]:
    """Questions with their source documents, from a CSV (columns Question, Source Docs and,
    optionally, Question Type) or a YAML file (`questions: [{q, sources, type}]`)."""
    text = path.read_text(encoding="utf-8-sig")
    rows: Iterable[dict[str, object]]
    if path.suffix.lower() in (".yaml", ".yml"):
        loaded = yaml.safe_load(text) or {}
        rows = loaded.get("questions", []) if isinstance(loaded, dict) else loaded
    else:
        rows = csv.DictReader(text.splitlines(keepends=True))
    questions: list[SourcedQuestion] = []
    for row in rows:
        question = _field(row, "question", "q")
        sources = _patterns(_field(row, "source docs", "sources", "source", "docs"))
        if question and sources:
            kind = str(_field(row, "question type", "type", "kind") or "all")
            questions.append(SourcedQuestion(str(question).strip(), sources, kind))
    if not questions:
        raise InvalidInput(f"'{path.name}' holds no questions with source documents.")
    return questions


@dataclass(frozen=True)
class Scores:
    questions: int
    hit_at_1: float
    hit_at_5: float
    mrr: float

    def as_dict(self) -> dict[str, float]:
        return {
            "questions": self.questions,
            "hit@1": round(self.hit_at_1, 4),
            "hit@5": round(self.hit_at_5, 4),
            "mrr": round(self.mrr, 4),
        }


def _scores(ranks: list[int | None]) -> Scores:
    n = max(len(ranks), 1)
    return Scores(
        len(ranks),
        sum(rank == 1 for rank in ranks) / n,
        sum(rank is not None and rank <= 5 for rank in ranks) / n,
        sum(1.0 / rank for rank in ranks if rank) / n,
    )


@dataclass(frozen=True)
class SourcesReport:
    overall: Scores
    by_split: dict[str, Scores]
    by_kind: dict[str, Scores]
    latency_p50_ms: float
    latency_p95_ms: float
    misses: tuple[str, ...]  # questions none of whose documents was in the top 5

    def as_dict(self) -> dict[str, object]:
        return {
            "overall": self.overall.as_dict(),
            "by_split": {split: scores.as_dict() for split, scores in self.by_split.items()},
            "by_type": {kind: scores.as_dict() for kind, scores in self.by_kind.items()},
            "latency_ms": {"p50": round(self.latency_p50_ms, 1), "p95": round(self.latency_p95_ms, 1)},
        }


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else 0.0


def evaluate_sources(
    retriever: Retriever,
    identity: Identity,
    questions: list[SourcedQuestion],
    progress: Progress | None = None,
) -> SourcesReport:
    """Source-document hit@1, hit@5 and MRR of the search as configured (hybrid, question-aware
    ranking and reranking as the settings say), overall, per split and per question type, and
    the search's latency."""
    ranks: list[int | None] = []
    latencies: list[float] = []
    for done, item in enumerate(questions, start=1):
        started = time.perf_counter()
        hits = retriever.search(identity, item.question, k=RANK_DEPTH * 4)
        latencies.append((time.perf_counter() - started) * 1000)
        files = list(dict.fromkeys(PurePath(hit.source).name for hit in hits))[:RANK_DEPTH]
        ranks.append(next((rank for rank, name in enumerate(files, start=1) if item.answered_by(name)), None))
        if progress:
            progress("Evaluating", done, len(questions))

    def group(key: Callable[[SourcedQuestion], str]) -> dict[str, Scores]:
        keys = sorted({key(item) for item in questions})
        return {k: _scores([r for item, r in zip(questions, ranks, strict=True) if key(item) == k]) for k in keys}

    return SourcesReport(
        overall=_scores(ranks),
        by_split=group(lambda item: item.split),
        by_kind=group(lambda item: item.kind),
        latency_p50_ms=statistics.median(latencies) if latencies else 0.0,
        latency_p95_ms=_percentile(latencies, 0.95),
        misses=tuple(item.question for item, rank in zip(questions, ranks, strict=True) if rank is None or rank > 5),
    )
