"""Chunking that respects headings and sentence ends in English and Chinese, with overlap.

Tables (lines with cells between "|", as the PDF and Word loaders and Markdown write them) are
cut between rows only, and a table that runs on into the next chunk repeats its column headings
at the top of it, so every figure in every chunk still says which period or column it is for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge_base._loaders import Section, is_figure

__all__ = ["Chunk", "chunk_sections", "split_sentences"]

# Split after sentence-ending punctuation (Chinese 。！？； and English .!?;), keeping it,
# and at line breaks (list items, table rows).
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=\.)(?=\s)|\n+")
_YEAR = re.compile(r"(?:19|20)\d{2}")
# A short line naming a period ("Three Months Ended", "April 1, 2023") just above the column
# headings belongs to them.
_PERIOD = re.compile(
    r"\b(?:ended|months|weeks|quarters?|years?|as of|(?:19|20)\d{2}|"
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:tember)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b",
    re.IGNORECASE,
)
# A longer line without cells is prose, and the table above it has ended; unless it ends in
# ":", as long row labels that open a group of rows do.
_TABLE_TEXT_MAX = 100


@dataclass(frozen=True)
class Chunk:
    heading: str
    text: str  # the passage as stored and embedded, prefixed with its title and heading


@dataclass(frozen=True)
class _Unit:
    """The smallest piece a chunk is made of: a sentence, or a whole table line."""

    text: str
    ends_line: bool  # a line break follows it in the source, and in the chunk
    header: tuple[str, ...] = ()  # the column headings of the table the unit is in
    heading_index: int | None = None  # where the unit itself stands in `header`, if it is one

    @property
    def headings_above(self) -> tuple[str, ...]:
        """The headings a chunk starting with this unit must repeat."""
        return self.header if self.heading_index is None else self.header[: self.heading_index]


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _cells(line: str) -> list[str] | None:
    inner = line.strip().strip("|")
    return [cell.strip() for cell in inner.split("|")] if "|" in inner else None


def _is_row(cells: list[str]) -> bool:
    """A row of figures; a line whose only numbers are years heads the columns instead."""
    return any(is_figure(cell) and not _YEAR.fullmatch(cell) for cell in cells)


def _line_units(line: str, header: tuple[str, ...] = (), heading_index: int | None = None) -> list[_Unit]:
    if heading_index is not None or _cells(line) is not None:
        return [_Unit(line, True, header, heading_index)]
    sentences = split_sentences(line)
    return [_Unit(s, i == len(sentences) - 1, header) for i, s in enumerate(sentences)]


def _headings_start(pending: list[tuple[str, bool]]) -> int | None:
    """Where the column headings begin among the lines since the last row: the last run of
    lines with cells, with a period line just above it; None when there are none."""
    last = next((i for i in range(len(pending) - 1, -1, -1) if pending[i][1]), None)
    if last is None:
        return None
    first = last
    while first and pending[first - 1][1]:
        first -= 1
    above = pending[first - 1][0] if first else ""
    if _PERIOD.search(above) and not above.endswith(":"):  # "... as follows:" introduces, it does not head
        first -= 1
    return first


def _units(text: str) -> list[_Unit]:
    """The section's sentences and table lines, each table line knowing its column headings."""
    units: list[_Unit] = []
    header: tuple[str, ...] = ()
    pending: list[tuple[str, bool]] = []  # (line, has cells) seen since the last row

    def settle(lines: list[tuple[str, bool]], context: tuple[str, ...]) -> None:
        for line, _ in lines:
            units.extend(_line_units(line, context))

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        cells = _cells(line)
        if cells is not None and _is_row(cells):
            first = _headings_start(pending)
            if first is None:  # more rows under the same headings
                settle(pending, header)
            else:
                settle(pending[:first], header)
                table = pending[first:]
                header = tuple(seen for i, (seen, has_cells) in enumerate(table) if has_cells or i == 0)
                for seen, _ in table:
                    units.extend(_line_units(seen, header, header.index(seen) if seen in header else None))
            pending = []
            units.append(_Unit(line, True, header))
        elif cells is not None or len(line) <= _TABLE_TEXT_MAX or line.endswith(":"):
            pending.append((line, cells is not None))
        else:
            settle(pending, ())
            pending, header = [], ()
            units.extend(_line_units(line))
    settle(pending, ())
    return units


def _render(headings: tuple[str, ...], units: list[_Unit]) -> str:
    body = "".join(u.text + ("\n" if u.ends_line else " ") for u in units)
    return "".join(f"{h}\n" for h in headings) + body.rstrip()


def _length(headings: tuple[str, ...], units: list[_Unit]) -> int:
    return sum(len(h) + 1 for h in headings) + sum(len(u.text) + 1 for u in units)


def _fit_headings(headings: tuple[str, ...], first: _Unit, size: int) -> tuple[str, ...]:
    """As many of the headings nearest the rows as leave room for the chunk's first unit."""
    while headings and _length(headings, [first]) > size:
        headings = headings[1:]
    return headings


def _pack(units: list[_Unit], size: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    headings: tuple[str, ...] = ()  # repeated at the top of the current chunk
    current: list[_Unit] = []
    length = 0
    for whole in units:
        unit = whole
        while len(unit.text) > size:  # one very long sentence or row: cut it hard
            head, rest = unit.text[:size], unit.text[size - overlap :]
            if current:
                chunks.append(_render(headings, current))
                headings, current, length = (), [], 0
            chunks.append(head)
            unit = _Unit(rest, unit.ends_line, unit.header, unit.heading_index)
        if current and length + len(unit.text) > size:
            chunks.append(_render(headings, current))
            # Carry the last units (up to `overlap` characters) into the next chunk.
            carried: list[_Unit] = []
            carried_length = 0
            for previous in reversed(current):
                if carried_length + len(previous.text) > overlap:
                    break
                carried.insert(0, previous)
                carried_length += len(previous.text)
            headings = _fit_headings((carried or [unit])[0].headings_above, unit, size)
            if _length(headings, [*carried, unit]) > size:  # the headings matter more than the overlap
                carried = []
                headings = _fit_headings(unit.headings_above, unit, size)
            current, length = carried, _length(headings, carried)
        elif not current:
            headings = _fit_headings(unit.headings_above, unit, size)
            length = _length(headings, [])
        current.append(unit)
        length += len(unit.text) + 1
    if current:
        chunks.append(_render(headings, current))
    return chunks


def chunk_sections(
    title: str, sections: list[Section], size: int, overlap: int, *, keep_sections_whole: bool = False
) -> list[Chunk]:
    """Chunks never cross a heading; with `keep_sections_whole` (CSV rows) each section is one
    chunk unless it is longer than `size`."""
    chunks: list[Chunk] = []
    for section in sections:
        prefix = f"{title}\n{section.heading}\n" if section.heading else f"{title}\n"
        if keep_sections_whole and len(section.text) <= size:
            pieces = [section.text]
        else:
            pieces = _pack(_units(section.text), size, overlap)
        chunks.extend(Chunk(section.heading, prefix + piece) for piece in pieces if piece.strip())
    return chunks
