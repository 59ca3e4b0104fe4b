"""Render a Reply for WeCom: markdown, a numbered sources list, and messages split under
WeCom's 2,048-byte limit on sentence boundaries (UTF-8 bytes: a Chinese character is 3)."""

from __future__ import annotations

import re

from bot.core.channel import Reply
from bot.core.text import t

__all__ = ["MAX_BYTES", "render", "split_message"]

MAX_BYTES = 2048
# A sentence with its end punctuation and trailing space, or a line with its newline.
_SENTENCE = re.compile(r"[^。！？!?；;\n]*(?:[。！？!?；;]+|\.(?=\s)|\n|$)\s*", re.DOTALL)


def render(reply: Reply) -> str:
    parts = [reply.text.strip()]
    for table in reply.tables:
        rows = [" | ".join(str(c) for c in table.columns)] + [" | ".join(str(v) for v in row) for row in table.rows]
        parts.append((f"**{table.title}**\n" if table.title else "") + "\n".join(rows))
    if reply.citations:
        heading = t("reply.sources", reply.language)
        parts.append(f"**{heading}**\n" + "\n".join(f"[{c.index}] {c.title}" for c in reply.citations))
    parts.extend(t("reply.chart", reply.language, title=image.title) for image in reply.images)
    return "\n\n".join(p for p in parts if p)


def split_message(text: str, limit: int = MAX_BYTES) -> list[str]:
    """Messages of at most `limit` UTF-8 bytes, cut after a sentence or a line where possible;
    joined back together they give the original text."""
    pieces = _SENTENCE.findall(text)
    messages: list[str] = []
    current = ""
    for piece in pieces:
        if len((current + piece).encode()) <= limit:
            current += piece
            continue
        if current:
            messages.append(current)
        rest = piece
        while len(rest.encode()) > limit:  # one "sentence" longer than a message: cut by bytes
            cut = rest.encode()[:limit].decode("utf-8", errors="ignore")
            messages.append(cut)
            rest = rest[len(cut) :]
        current = rest
    if current:
        messages.append(current)
    return [m for m in messages if m.strip()]
