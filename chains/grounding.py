"""The grounding check every drafted answer passes before anyone sees it.

A small model writing from passages gets a figure wrong in a way that reads as right: another
quarter's number, a rounded one, a date it made up. So every figure, date and proper name a
draft states must occur in what it was given: the passages it cites (a citation has to hold
its figure), or facts rendered by code from a tool's result, or the question itself. A draft
that fails is not shown; the caller falls back to quoting the evidence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Grounding", "check_grounding", "cited_numbers", "normalise", "strip_citations"]

# A figure: digits with thousands separators and decimals ("81,797", "4.9", "165%").
_FIGURE = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.,])\d+(?:\.\d+)?")
_CITATION = re.compile(r"\[(\d{1,2})\]")
# A proper name in Latin script: a capitalised word, or a run of them.
_NAME = re.compile(r"\b[A-Z][a-zA-Z0-9&'\-]{2,}(?:\s+[A-Z][a-zA-Z0-9&'\-]+)*")
# Between sentences (kept when splitting, so a re-cited draft keeps its line breaks).
_BOUNDARY = re.compile(r"((?<=[.!?])\s+(?=[A-Z\[\"'(*-])|(?<=[。！？；])|\n+)")
# Words a framing sentence may use without a source: months, weekdays and the answer's own
# vocabulary are not claims about a customer or a filing.
_FREE_WORDS = frozenset(
    re.findall(
        r"\S+",
        "january february march april may june july august september october november december "
        "monday tuesday wednesday thursday friday saturday sunday q1 q2 q3 q4 fy sales copilot "
        "the documents knowledge base",
    )
)


@dataclass(frozen=True)
class Grounding:
    """What the check found: `unsupported` lists every claim no allowed source holds; `text` is
    the draft with each sentence citing the sources that hold its claims."""

    unsupported: tuple[str, ...]
    text: str
    claims: int  # how many figures and names the draft states

    @property
    def ok(self) -> bool:
        return not self.unsupported

    @property
    def cited(self) -> tuple[int, ...]:
        return cited_numbers(self.text)


def normalise(text: str) -> str:
    """Comparable form: NFKC (full-width digits and punctuation), lower case, no thousands
    separators inside numbers, collapsed whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return " ".join(text.split())


def strip_citations(text: str) -> str:
    return _CITATION.sub("", text)


def cited_numbers(text: str) -> tuple[int, ...]:
    return tuple(dict.fromkeys(int(n) for n in _CITATION.findall(text)))


def _figures(text: str) -> list[str]:
    return [match.group(0) for match in _FIGURE.finditer(strip_citations(text))]


def _names(sentence: str) -> list[str]:
    """Capitalised runs of a sentence, except its first word (capitalised anyway)."""
    text = strip_citations(sentence).strip().lstrip("\"'(-*• ")
    found = []
    for match in _NAME.finditer(text):
        words = match.group(0).split()
        if match.start() == 0:
            words = words[1:]
        words = [w for w in words if w.lower() not in _FREE_WORDS]
        if words:
            found.append(" ".join(words))
    return found


def _holds(haystack: str, claim: str) -> bool:
    needle = normalise(claim)
    if needle[:1].isdigit():
        # A figure must match a whole number: "84" is not found inside "1,840" or "84.5".
        return re.search(rf"(?<![\d.]){re.escape(needle)}(?![\d]|\.\d)", haystack) is not None
    return needle in haystack


def check_grounding(draft: str, sources: Mapping[int, str], *, facts: str = "", question: str = "") -> Grounding:
    """Check every figure, date and name of `draft` against what it was given, and cite right.

    `sources` maps a citation number to the text shown under it. A claim must be held by a
    source, or by `facts` (tool results rendered by code) or the `question`. A small model
    often puts the right figure beside the wrong [n]: each sentence is re-cited with the
    sources that hold its claims (its own citations first), so a citation always holds what
    it is cited for. A sentence with no claim keeps its citations to sources that exist.
    """
    texts = {n: normalise(text) for n, text in sources.items()}
    shared = normalise(f"{facts}\n{question}")
    unsupported: list[str] = []
    claims = 0
    parts = _BOUNDARY.split(draft)
    for i in range(0, len(parts), 2):  # odd items are the boundaries between sentences
        sentence = parts[i]
        own = [n for n in cited_numbers(sentence) if n in texts]
        needed: list[int] = []
        for claim in (*_figures(sentence), *_names(sentence)):
            claims += 1
            holders = [n for n in own if _holds(texts[n], claim)] or [n for n in texts if _holds(texts[n], claim)]
            if holders:
                needed.append(holders[0])
            elif not _holds(shared, claim):
                unsupported.append(claim)
        parts[i] = _recite(sentence, list(dict.fromkeys(needed)) or own)
    return Grounding(tuple(dict.fromkeys(unsupported)), "".join(parts), claims)


def _recite(sentence: str, numbers: list[int]) -> str:
    bare = _CITATION.sub("", sentence).rstrip()
    bare = re.sub(r"\s+([.,;:!?。，；：！？])", r"\1", bare)
    if not numbers or not bare.strip():
        return bare
    marks = "".join(f"[{n}]" for n in numbers)
    if bare[-1] in ".!?。！？；;":
        return f"{bare[:-1]} {marks}{bare[-1]}"
    return f"{bare} {marks}"
