"""Conversation metrics in Gong's vocabulary, and question classification (zh and en).

Open questions invite the customer to explain (what/how/why/which/who/how much; 什么/怎么/
为什么/哪/谁/多少/多大). Yes/no, either-or and tag questions (…吗, 对吧, 是不是, A不A,
"Is there…?", "Could you…?") are closed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from itertools import pairwise
from typing import Any

from transcription.turns import Turn

__all__ = ["CallMetrics", "compute_metrics", "is_open_question", "questions_in", "split_sentences"]

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*|(?<=[；;])")
_EN_WH = re.compile(r"\b(what|what's|whats|how|why|which|who|whom|whose|where|when)\b", re.I)
_EN_AUX_START = re.compile(
    r"^(?:(?:so|and|but|okay|ok|well|now|then|also|great|right|sure|understood)[, ]+)*"
    r"(do|does|did|is|are|was|were|can|could|would|will|should|shall|have|has|had|may|might|isn't|aren't|don't|doesn't|won't|wouldn't|couldn't)\b",
    re.I,
)
_ZH_WH = re.compile(r"什么|怎么|怎样|为什么|为何|哪|谁|多少|多大|多久|多长|几[个位家次年月天]|如何")
_ZH_NOT_WH = re.compile(r"没什么|什么都|怎么都|哪里哪里|多少有")
_ZH_CLOSED_END = re.compile(r"(吗|嘛|吧|对吧|是吧|好吗|行吗|可以吗)[？?。.！!]*$")
_ZH_A_NOT_A = re.compile(r"(.)不\1|(.)没\2|是不是|有没有|能不能|要不要|会不会")
_ZH_QUESTION_HINT = re.compile(r"[吗呢][？?。.]*$")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def split_sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(text)]
    return [p for p in parts if p]


def _is_chinese(text: str) -> bool:
    return len(_CJK.findall(text)) >= max(2, len(text) // 4)


def is_question(sentence: str) -> bool:
    s = sentence.strip()
    if s.endswith(("?", "？")):
        return True
    if _is_chinese(s):
        # Speech recognition often drops Chinese question marks: the grammar still shows it.
        return bool(
            _ZH_QUESTION_HINT.search(s) or (_ZH_WH.search(s) and not _ZH_NOT_WH.search(s)) or _ZH_A_NOT_A.search(s)
        )
    return False


def is_open_question(sentence: str) -> bool:
    """True for an open question (assumes `sentence` is a question)."""
    s = sentence.strip()
    if _is_chinese(s):
        clauses = [c for c in re.split(r"[，,、]", s) if c.strip()]
        for clause in clauses:
            if _ZH_WH.search(clause) and not _ZH_NOT_WH.search(clause) and not _ZH_CLOSED_END.search(clause):
                return True
        return False
    if _EN_AUX_START.match(s):
        return False
    return bool(_EN_WH.search(s))


def questions_in(text: str) -> list[tuple[str, bool]]:
    """(question, is_open) for each question sentence in a turn."""
    return [(s, is_open_question(s)) for s in split_sentences(text) if is_question(s)]


@dataclass(frozen=True)
class CallMetrics:
    duration_s: float
    rep_talk_s: float
    customer_talk_s: float
    rep_talk_ratio: float
    longest_monologue_s: float
    question_count: int
    open_question_count: int
    closed_question_count: int
    open_question_turns: int  # rep turns with at least one open question
    questions_per_minute: float
    interactivity: float  # speaker switches per minute
    patience_s: float  # mean pause before the rep answers the customer
    turn_count: int

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallMetrics:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def compute_metrics(turns: list[Turn], duration: float | None = None) -> CallMetrics:
    rep = [t for t in turns if t.speaker == "rep"]
    rep_talk = sum(t.duration for t in rep)
    customer_talk = sum(t.duration for t in turns if t.speaker != "rep")
    total = rep_talk + customer_talk
    longest = current = 0.0
    for turn in turns:
        current = current + turn.duration if turn.speaker == "rep" else 0.0
        longest = max(longest, current)
    questions = [q for t in rep for q in questions_in(t.text)]
    open_count = sum(1 for _, is_open in questions if is_open)
    open_turns = sum(1 for t in rep if any(is_open for _, is_open in questions_in(t.text)))
    span = duration or (turns[-1].end - turns[0].start if turns else 0.0)
    minutes = max(span / 60.0, 1e-6)
    switches = sum(1 for a, b in pairwise(turns) if a.speaker != b.speaker)
    pauses = [max(0.0, b.start - a.end) for a, b in pairwise(turns) if a.speaker == "customer" and b.speaker == "rep"]
    return CallMetrics(
        duration_s=round(span, 2),
        rep_talk_s=round(rep_talk, 2),
        customer_talk_s=round(customer_talk, 2),
        rep_talk_ratio=round(rep_talk / total, 3) if total else 0.0,
        longest_monologue_s=round(longest, 2),
        question_count=len(questions),
        open_question_count=open_count,
        closed_question_count=len(questions) - open_count,
        open_question_turns=open_turns,
        questions_per_minute=round(len(questions) / minutes, 2),
        interactivity=round(switches / minutes, 2),
        patience_s=round(sum(pauses) / len(pauses), 2) if pauses else 0.0,
        turn_count=len(turns),
    )
