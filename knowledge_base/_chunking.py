"""Chunking that respects headings and sentence ends in English and Chinese, with overlap."""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge_base._loaders import Section

__all__ = ["Chunk", "chunk_sections", "split_sentences"]

# Split after sentence-ending punctuation (Chinese 。！？； and English .!?;), keeping it,
# and at line breaks (list items, table rows).
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=\.)(?=\s)|\n+")


@dataclass(frozen=True)
class Chunk:
    heading: str
    text: str  # the passage as stored and embedded, prefixed with its title and heading


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _pack(sentences: list[str], size: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    for whole in sentences:
        sentence = whole
        while len(sentence) > size:  # one very long "sentence": cut it hard
            head, sentence = sentence[:size], sentence[size - overlap :]
            if current:
                chunks.append(" ".join(current))
                current, length = [], 0
            chunks.append(head)
        if current and length + len(sentence) > size:
            chunks.append(" ".join(current))
            # Carry the last sentences (up to `overlap` characters) into the next chunk.
            carried: list[str] = []
            carried_length = 0
            for previous in reversed(current):
                if carried_length + len(previous) > overlap:
                    break
                carried.insert(0, previous)
                carried_length += len(previous)
            current, length = carried, carried_length
        current.append(sentence)
        length += len(sentence) + 1
    if current:
        chunks.append(" ".join(current))
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
            pieces = _pack(split_sentences(section.text), size, overlap)
        chunks.extend(Chunk(section.heading, prefix + piece) for piece in pieces if piece.strip())
    return chunks
