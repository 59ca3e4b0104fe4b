"""Conversation metrics in Gong's vocabulary, and open/closed question classification."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from transcription._asr import Turn

__all__ = ["CallMetrics", "compute_metrics", "questions_in", "is_open_question", "sentences"]

_SENTENCE = re.compile(r"[^。！？!?.;；\n]+[。！？!?.;；]*")
_EN_OPEN = re.compile(
    r"^\s*(?:and\s+|so\s+|but\s+|then\s+|okay,?\s+|well,?\s+)*(what|what's|whats|how|why|which|who|whom|whose|where|when|tell me|walk me through|describe|help me understand)\b",
    re.IGNORECASE,
)
_EN_QUESTION_START = re.compile(
    r"^\s*(?:and\s+|so\s+|but\s+)*(is|are|am|do|does|did|can|could|would|will|have|has|had|should|shall|may|might|was|were|what|what's|how|why|which|who|where|when)\b",
    re.IGNORECASE,
)
_ZH_OPEN = re.compile(r"什么|怎么|怎样|为什么|为何|哪|谁|多少|多大|多久|多长|几|如何|啥")
_ZH_CLOSED = re.compile(r"(吗|(?<![什怎那这])么)[？?。]?$|是不是|对不对|对吧|好不好|行不行|可不可以|能不能|有没有|要不要|需不需要|会不会|是否")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _is_zh(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


def is_question(sentence: str) -> bool:
    if sentence.rstrip().endswith(("?", "？")):
        return True
    if _is_zh(sentence):
        # ASR often drops the question mark in Chinese: question words and particles tell.
        return bool(_ZH_OPEN.search(sentence) or _ZH_CLOSED.search(sentence))
    return bool(_EN_QUESTION_START.match(sentence)) and len(sentence.split()) > 2


def is_open_question(sentence: str) -> bool:
    if not is_question(sentence):
        return False
    if _is_zh(sentence):
        return bool(_ZH_OPEN.search(sentence)) and not _ZH_CLOSED.search(sentence)
    return bool(_EN_OPEN.match(sentence))


def questions_in(text: str) -> tuple[list[str], list[str]]:
    """(open questions, closed questions) in a turn."""
    open_questions, closed = [], []
    for sentence in sentences(text):
        if is_open_question(sentence):
            open_questions.append(sentence)
        elif is_question(sentence):
            closed.append(sentence)
    return open_questions, closed


@dataclass(frozen=True)
class CallMetrics:
    rep_talk_s: float
    customer_talk_s: float
    rep_talk_ratio: float
    longest_monologue_s: float
    questions: int
    open_questions: int
    closed_questions: int
    open_question_turns: int
    question_rate_per_min: float
    interactivity_per_min: float  # speaker switches per minute
    patience_s: float  # mean pause before the rep speaks after the customer
    turns: int

    def to_dict(self) -> dict[str, float | int]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def compute_metrics(turns: list[Turn], duration: float) -> CallMetrics:
    rep = [t for t in turns if t.speaker == "rep"]
    rep_talk = sum(t.duration for t in rep)
    customer_talk = sum(t.duration for t in turns if t.speaker != "rep")
    longest = current = 0.0
    previous: Turn | None = None
    for turn in turns:
        if turn.speaker == "rep":
            current = current + turn.duration if previous is not None and previous.speaker == "rep" else turn.duration
            longest = max(longest, current)
        else:
            current = 0.0
        previous = turn
    open_total = closed_total = open_turns = 0
    for turn in rep:
        open_questions, closed = questions_in(turn.text)
        open_total += len(open_questions)
        closed_total += len(closed)
        open_turns += bool(open_questions)
    switches = sum(1 for a, b in zip(turns, turns[1:]) if a.speaker != b.speaker)
    pauses = [b.start - a.end for a, b in zip(turns, turns[1:]) if a.speaker != "rep" and b.speaker == "rep"]
    minutes = max(duration, 1.0) / 60
    talk = rep_talk + customer_talk
    return CallMetrics(
        rep_talk_s=rep_talk,
        customer_talk_s=customer_talk,
        rep_talk_ratio=rep_talk / talk if talk else 0.0,
        longest_monologue_s=longest,
        questions=open_total + closed_total,
        open_questions=open_total,
        closed_questions=closed_total,
        open_question_turns=open_turns,
        question_rate_per_min=(open_total + closed_total) / minutes,
        interactivity_per_min=switches / minutes,
        patience_s=sum(max(p, 0.0) for p in pauses) / len(pauses) if pauses else 0.0,
        turns=len(turns),
    )
