"""Answer-quality evaluation: are the copilot's answers right, cited and honest?

Each set (`answer_sets/<name>.yaml`) names a folder of documents and labelled questions: the key
facts a right answer states (each fact a list of accepted spellings, as the document prints
it), or `answerable: false` for questions the documents do not answer. The documents are added
to a knowledge base of the set's own; every question is asked through the configured answerer
(local model, an OpenAI-compatible endpoint, or retrieval only) and scored:

- correct: every key fact is in the answer (and an unanswerable question is declined);
- citation precision: of the key facts an answer states, the share a passage it cites holds;
- abstention precision and recall: declining exactly the questions the documents do not answer;
- invented: unanswerable questions answered with a figure the question did not contain;
- language: the answer is in the asker's language (quoted document text aside);
- latency of the whole answer.

Every set carries a frozen dev/test split (assigned before any tuning); report the test split.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bot.core.channel import Reply
from bot.core.errors import NotFound
from bot.core.identity import Identity
from bot.core.ports import Answerer, AnswerRequest
from bot.core.text import detect_language
from chains.grounding import check_grounding, cited_numbers, normalise, strip_citations

__all__ = [
    "ANSWER_SETS",
    "AnswerCase",
    "AnswerScores",
    "AnswerSet",
    "CaseResult",
    "evaluate_answers",
    "load_answer_set",
    "score_reply",
]

ANSWER_SETS = Path(__file__).with_name("answer_sets")
Split = Literal["dev", "test"]


@dataclass(frozen=True)
class AnswerCase:
    id: str
    question: str
    language: str
    answerable: bool
    key_facts: tuple[tuple[str, ...], ...]  # every fact must be stated; any spelling of one counts
    split: Split
    kind: str = ""
    source_docs: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnswerSet:
    name: str
    documents: str  # the folder of its documents, relative to the repository's parent folder
    cases: tuple[AnswerCase, ...]

    def documents_dir(self, override: Path | None = None) -> Path:
        folder = override or _REPOSITORY.parent / self.documents
        if self.documents.startswith("bot/"):
            folder = override or _REPOSITORY / self.documents  # shipped with the code
        if not folder.is_dir():
            raise NotFound(f"The documents of answer set '{self.name}' are not at {folder}: pass --docs.")
        return folder


_REPOSITORY = Path(__file__).resolve().parents[1]


def load_answer_set(name: str) -> AnswerSet:
    path = ANSWER_SETS / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ANSWER_SETS.glob("*.yaml")))
        raise NotFound(f"No answer set '{name}' (sets: {known}).")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    cases = tuple(
        AnswerCase(
            id=str(item["id"]),
            question=str(item["question"]),
            language=str(item.get("language", "en")),
            answerable=bool(item.get("answerable", True)),
            key_facts=tuple(tuple(str(s) for s in fact) for fact in item.get("key_facts") or ()),
            split=item["split"],
            kind=str(item.get("kind", "")),
            source_docs=tuple(item.get("source_docs") or ()),
        )
        for item in raw["questions"]
    )
    return AnswerSet(name=str(raw["name"]), documents=str(raw["documents"]), cases=cases)


@dataclass(frozen=True)
class CaseResult:
    case: AnswerCase
    answer: str
    abstained: bool
    facts_stated: int  # key facts the answer states
    facts_cited: int  # ... and of those, the ones a passage it cites holds
    invented: tuple[str, ...]  # figures/names in a declined-question answer that no source holds
    language_ok: bool
    seconds: float
    tools: tuple[str, ...]

    @property
    def correct(self) -> bool:
        if not self.case.answerable:
            return self.abstained
        return not self.abstained and self.facts_stated == len(self.case.key_facts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "split": self.case.split,
            "question": self.case.question,
            "answerable": self.case.answerable,
            "correct": self.correct,
            "abstained": self.abstained,
            "facts": f"{self.facts_stated}/{len(self.case.key_facts)}",
            "facts_cited": self.facts_cited,
            "invented": list(self.invented),
            "language_ok": self.language_ok,
            "seconds": round(self.seconds, 2),
            "tools": list(self.tools),
            "answer": self.answer,
        }


@dataclass(frozen=True)
class AnswerScores:
    set_name: str
    model: str
    results: tuple[CaseResult, ...] = field(default_factory=tuple)

    def of(self, split: Split | None) -> AnswerScores:
        return AnswerScores(
            self.set_name, self.model, tuple(r for r in self.results if split is None or r.case.split == split)
        )

    def figures(self) -> dict[str, Any]:
        results = self.results
        answerable = [r for r in results if r.case.answerable]
        unanswerable = [r for r in results if not r.case.answerable]
        abstained = [r for r in results if r.abstained]
        stated = sum(r.facts_stated for r in answerable if not r.abstained)
        cited = sum(r.facts_cited for r in answerable if not r.abstained)
        seconds = sorted(r.seconds for r in results)
        return {
            "n": len(results),
            "answerable": len(answerable),
            "unanswerable": len(unanswerable),
            "correct": _share(sum(r.correct for r in results), len(results)),
            "correct_answerable": _share(sum(r.correct for r in answerable), len(answerable)),
            "citation_precision": _share(cited, stated),
            "abstention_precision": _share(sum(not r.case.answerable for r in abstained), len(abstained)),
            "abstention_recall": _share(sum(r.abstained for r in unanswerable), len(unanswerable)),
            "invented_on_unanswerable": sum(bool(r.invented) for r in unanswerable),
            "language": _share(sum(r.language_ok for r in results), len(results)),
            "latency_p50_s": round(statistics.median(seconds), 2) if seconds else None,
            "latency_p95_s": round(seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))], 2) if seconds else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "set": self.set_name,
            "model": self.model,
            **self.figures(),
            "splits": {split: self.of(split).figures() for split in ("dev", "test")},
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _holds(text: str, spelling: str) -> bool:
    return normalise(spelling) in normalise(text)


def score_reply(case: AnswerCase, reply: Reply, seconds: float) -> CaseResult:
    text = reply.text
    stated = [fact for fact in case.key_facts if any(_holds(text, spelling) for spelling in fact)]
    used = set(cited_numbers(text))
    cited_texts = [c.snippet for c in reply.citations if c.index in used]
    facts_cited = sum(any(_holds(snippet, spelling) for snippet in cited_texts for spelling in fact) for fact in stated)
    invented: tuple[str, ...] = ()
    if not case.answerable and not reply.abstained:
        sources = {c.index: c.snippet for c in reply.citations}
        invented = check_grounding(text, {}, question=case.question).unsupported
        # A claim quoted from a cited passage is not invented, only beside the point.
        invented = tuple(claim for claim in invented if not any(_holds(s, claim) for s in sources.values()))
    return CaseResult(
        case=case,
        answer=text,
        abstained=reply.abstained,
        facts_stated=len(stated),
        facts_cited=facts_cited,
        invented=invented,
        language_ok=_answer_language(text, case.language) == case.language,
        seconds=seconds,
        tools=tuple(call["name"] for call in reply.tool_calls),
    )


def _answer_language(text: str, asked: str) -> str:
    """The language the copilot wrote in: quoted document lines ("> ...") are the document's."""
    own = "\n".join(line for line in strip_citations(text).splitlines() if not line.lstrip().startswith(">"))
    return detect_language(own, default=asked)


def evaluate_answers(
    answerer: Answerer,
    identity: Identity,
    cases: Sequence[AnswerCase],
    *,
    set_name: str,
    model: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> AnswerScores:
    """Ask every case as `identity` (a fresh conversation each) and score the replies."""
    results: list[CaseResult] = []
    for done, case in enumerate(cases, start=1):
        request = AnswerRequest(identity=identity, text=case.question, language=case.language, history=[])
        started = time.perf_counter()
        reply = answerer.answer(request)
        results.append(score_reply(case, reply, time.perf_counter() - started))
        if on_progress:
            on_progress(done, len(cases))
    return AnswerScores(set_name, model, tuple(results))
