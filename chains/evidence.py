"""Which sentences of the retrieved passages answer the question, and whether any does.

Retrieval finds passages about the topic; the answer needs the one sentence (or table row) that
holds what was asked. Each passage is cut into units (sentences; a table row with its header),
and each unit is scored two ways:

- lexical: the share of the question's key terms (IDF-weighted over the candidate units, so a
  word every unit shares counts for little) that the unit holds;
- semantic: the cosine between the unit and the question in the retriever's multilingual
  embedding space (what carries a Chinese question to an English passage).

The best units go to the model; when even the best is weak, the knowledge base does not hold
the answer and the copilot says so instead of letting the model guess.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrieval import SearchHit, tokenize

if TYPE_CHECKING:
    from retrieval import Embedder

__all__ = ["EvidenceUnit", "gather_evidence", "split_units"]

UNIT_CHARS = 420  # a unit longer than this is cut at sentence ends
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|(?<=[。！？；])")
_TABLE_ROW = re.compile(r"\S\s*\|\s*\S")
_HAS_FIGURE = re.compile(r"\d")
_PAGE_MARK = re.compile(r"page \d+", re.IGNORECASE)
WINDOW_CHARS = 480  # a sentence and the ones after it under the same heading, up to this
# A question whose answer is a figure: amounts, counts, rates, prices, dates.
_ASKS_FOR_FIGURE = re.compile(
    r"\b(how (much|many|long|often)|what (percentage|share|proportion)|when|which (year|quarter|month)"
    r"|what (is|was|were|are) (the )?([\w'-]+ ){0,4}(rate|price|cost|revenue|revenues|margin|amount|total|number"
    r"|percentage|share|growth|sales|income))\b"
    r"|多少|几[个年月天周次家倍]|比例|多久|哪一?年|何时|什么时候",
    re.IGNORECASE,
)
# Words that frame a question rather than say what it is about ("how much did ... report").
_QUESTION_WORDS = frozenset(
    re.findall(
        r"\S+",
        "were did much many please tell me give show describe explain about any there been "
        "吗 呢 哪些 多少 是否 请问 告诉 一下 有没有",
    )
)


@dataclass(frozen=True)
class EvidenceUnit:
    hit: SearchHit  # the passage the unit comes from
    rank: int  # the passage's rank in the search, 0 = best
    text: str  # a sentence and the ones that continue it, or a table row after its header line
    context: str  # the heading it sits under ("Where Northwind is weak"), may be empty
    lexical: float  # share of the question's key terms it (with its heading) holds, IDF-weighted, 0..1
    semantic: float  # cosine to the question
    score: float  # the blend evidence is ranked and judged by (see `_blend`)

    @property
    def shown(self) -> str:
        """The unit as the model reads it: under its heading."""
        return f"{self.context}: {self.text}" if self.context else self.text


@dataclass(frozen=True)
class _Piece:
    text: str
    context: str
    row: bool  # a table row: it stands alone (its neighbours are other rows' figures)


def split_units(text: str, title: str = "") -> list[str]:
    """A passage's units as text: prose cut into sentences, each table row after its table's
    first line (the column headers: which period each figure belongs to)."""
    return [piece.text for piece in _pieces(text, title)]


def _pieces(text: str, title: str) -> list[_Piece]:
    pieces: list[_Piece] = []
    lines = [line.strip() for line in text.splitlines()]
    if lines and title and lines[0] == title.strip():
        lines = lines[1:]  # chunks repeat their document's title; the citation shows it
    heading = ""
    table_head: str | None = None
    for index, line in enumerate(lines):
        if not line or _PAGE_MARK.fullmatch(line):
            table_head = None
            continue
        if _TABLE_ROW.search(line):
            previous = lines[index - 1] if index else ""
            if table_head is None:
                table_head = line
                if _HAS_FIGURE.search(line) and not _TABLE_ROW.search(previous) and 0 < len(previous) <= 160:
                    table_head = f"{previous}\n{line}"  # the caption above a table's first row
                if not _is_data_row(line):
                    continue
            body = line if line in table_head else f"{table_head}\n{line}"
            pieces.append(_Piece(body, heading, row=True))
            continue
        table_head = None
        if _is_heading(line):
            heading = line.lstrip("#").strip()
            continue
        pieces.extend(_Piece(sentence, heading, row=False) for sentence in _sentences(line))
    return [piece for piece in pieces if len(piece.text) >= 12]


def _is_heading(line: str) -> bool:
    """A short line that does not end a sentence: a section title, not a statement."""
    if line.startswith("#"):
        return True
    return len(line) <= 80 and not _HAS_FIGURE.search(line) and line[-1] not in '.。!！?？;；:：)）"”'


def _is_data_row(line: str) -> bool:
    """A row with a label and figures, not a header of periods."""
    cells = [cell.strip() for cell in line.split("|")]
    figures = [cell for cell in cells[1:] if re.fullmatch(r"[$(¥€£]?-?[\d,.]+%?\)?", cell)]
    return bool(figures) and not all(re.fullmatch(r"(19|20)\d\d", cell) for cell in figures)


def _sentences(line: str) -> list[str]:
    pieces: list[str] = []
    for part in _SENTENCE_END.split(line):
        rest = part.strip()
        while len(rest) > UNIT_CHARS:
            cut = rest.rfind(" ", 0, UNIT_CHARS)
            cut = cut if cut > UNIT_CHARS // 2 else UNIT_CHARS
            pieces.append(rest[:cut])
            rest = rest[cut:].strip()
        if rest:
            pieces.append(rest)
    return pieces


def _terms(text: str) -> set[str]:
    return {term for term in tokenize(text) if term not in _QUESTION_WORDS}


def gather_evidence(
    question: str, hits: Sequence[SearchHit], embedder: Embedder | None, *, limit: int = 4
) -> list[EvidenceUnit]:
    """The `limit` units of `hits` that best answer `question`, best first.

    A unit is scored by its best sentence, then grows into the sentences after it under the
    same heading (a list, an explanation): what answers is often more than one sentence."""
    passages = [(rank, hit, _pieces(hit.text, hit.title)) for rank, hit in enumerate(hits)]
    candidates = [(rank, hit, i, piece) for rank, hit, pieces in passages for i, piece in enumerate(pieces)]
    if not candidates:
        return []
    asked = _terms(question)
    piece_terms = [_terms(f"{piece.context} {piece.text}") for _r, _h, _i, piece in candidates]
    frequency = Counter(term for terms in piece_terms for term in terms & asked)
    weight = {term: math.log(1 + len(candidates) / (1 + frequency[term])) for term in asked}
    total = sum(weight.values()) or 1.0
    semantic = _similarities(question, [piece.text for _r, _h, _i, piece in candidates], embedder)
    lexical = [sum(weight[term] for term in terms & asked) / total for terms in piece_terms]
    wants_figure = bool(_ASKS_FOR_FIGURE.search(question))
    blended = [
        _blend(lexical[n], semantic[n], rank / max(len(hits), 1), wants_figure and not _HAS_FIGURE.search(piece.text))
        for n, (rank, _hit, _i, piece) in enumerate(candidates)
    ]
    # Ties go to the better-ranked passage: retrieval already weighed the whole passage.
    scored = sorted(((blended[n], candidates[n][0], n) for n in range(len(candidates))), key=lambda x: (-x[0], x[1]))
    units: list[EvidenceUnit] = []
    taken: set[tuple[int, int]] = set()
    for _score, rank, n in scored:
        _rank, hit, index, piece = candidates[n]
        if (rank, index) in taken:
            continue
        pieces = passages[rank][2]
        span = [index]
        while not piece.row and span[-1] + 1 < len(pieces):
            following = pieces[span[-1] + 1]
            if following.row or following.context != piece.context or (rank, span[-1] + 1) in taken:
                break
            if sum(len(pieces[i].text) for i in span) + len(following.text) > WINDOW_CHARS:
                break
            span.append(span[-1] + 1)
        taken.update((rank, i) for i in span)
        units.append(
            EvidenceUnit(
                hit=hit,
                rank=rank,
                text=" ".join(pieces[i].text for i in span),
                context=piece.context,
                lexical=lexical[n],
                semantic=semantic[n],
                score=blended[n],
            )
        )
        if len(units) >= limit:
            break
    return units


LEXICAL_WEIGHT = 0.6
SEMANTIC_WEIGHT = 0.4
RANK_WEIGHT = 0.2  # a sentence of the best-ranked passage is likelier the answer
NO_FIGURE_FACTOR = 0.4  # "how much / 多少" asked, and the sentence holds no figure


def _blend(lexical: float, semantic: float, relative_rank: float, lacks_figure: bool) -> float:
    score = LEXICAL_WEIGHT * lexical + SEMANTIC_WEIGHT * max(semantic, 0.0) + RANK_WEIGHT * (1 - relative_rank)
    return score * (NO_FIGURE_FACTOR if lacks_figure else 1.0)


def _similarities(question: str, units: list[str], embedder: Embedder | None) -> list[float]:
    if embedder is None:
        return [0.0] * len(units)
    import numpy as np

    query = embedder.embed_query(question)
    vectors = embedder.embed_documents(units)
    norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(query) or 1.0)
    return [float(v) for v in (vectors @ query) / np.where(norms == 0, 1.0, norms)]
