"""Render a Reply as Slack Block Kit: mrkdwn sections within Slack's limits, tables as compact
monospace blocks, citations as a sources context block, 👍/👎 feedback buttons."""

from __future__ import annotations

import re
from typing import Any

from bot.core.channel import Reply, ReplyTable
from bot.core.text import t

__all__ = [
    "BLOCKS_LIMIT",
    "FEEDBACK_DOWN",
    "FEEDBACK_UP",
    "SECTION_LIMIT",
    "SlackMessage",
    "reply_messages",
    "to_mrkdwn",
]

Block = dict[str, Any]
"""One Block Kit block (Slack's wire format)."""
SlackMessage = dict[str, Any]
"""The keyword arguments of one chat.postMessage / chat.update: `text` and `blocks`."""

SECTION_LIMIT = 3000  # characters of text in one section block
BLOCKS_LIMIT = 50  # blocks in one message
MESSAGE_CHARS = 12_000  # beyond this a message is hard to read (and Slack truncates text at 40k)
FEEDBACK_UP, FEEDBACK_DOWN = "copilot_feedback_up", "copilot_feedback_down"


def to_mrkdwn(text: str) -> str:
    """Markdown from the model to Slack mrkdwn: **bold** -> *bold*, headings -> bold lines,
    [text](url) -> <url|text>; &, <, > escaped as Slack requires."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r"<\2|\1>", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    return re.sub(r"^#{1,6}\s*(.+)$", r"*\1*", text, flags=re.MULTILINE)


def _chunks(text: str, limit: int) -> list[str]:
    """Cut at paragraph, then line, then sentence boundaries; never mid-word if avoidable."""
    chunks: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind("。"), window.rfind(". "))
        cut = cut + 1 if cut > limit // 3 else limit
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n")
    if text.strip():
        chunks.append(text)
    return chunks


def _table(table: ReplyTable) -> str:
    rows = [[str(c) for c in table.columns]] + [[str(v) for v in row] for row in table.rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return (f"*{table.title}*\n" if table.title else "") + "```" + "\n".join(lines) + "```"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _feedback_button(action_id: str, emoji: str, message_id: int) -> Block:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": emoji},
        "value": str(message_id),
    }


def reply_messages(reply: Reply) -> list[SlackMessage]:
    """One or more messages ({text, blocks}); sources and feedback go on the last one."""
    blocks = [_section(chunk) for chunk in _chunks(to_mrkdwn(reply.text), SECTION_LIMIT)]
    for table in reply.tables:
        blocks.extend(_section(chunk) for chunk in _chunks(_table(table), SECTION_LIMIT))
    tail: list[Block] = []
    if reply.citations:
        label = t("reply.sources", reply.language)
        items = "  ·  ".join(f"[{c.index}] {to_mrkdwn(c.title)}" for c in reply.citations)
        tail.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{label}:* " + items[:2900]}]})
    if reply.message_id is not None and reply.kind == "answer":
        tail.append(
            {
                "type": "actions",
                "block_id": f"feedback:{reply.message_id}",
                "elements": [
                    _feedback_button(FEEDBACK_UP, "👍", reply.message_id),
                    _feedback_button(FEEDBACK_DOWN, "👎", reply.message_id),
                ],
            }
        )
    messages: list[list[Block]] = [[]]
    size = 0
    for block in blocks:
        length = len(block["text"]["text"])
        if messages[-1] and (len(messages[-1]) + len(tail) >= BLOCKS_LIMIT or size + length > MESSAGE_CHARS):
            messages.append([])
            size = 0
        messages[-1].append(block)
        size += length
    messages[-1].extend(tail)
    plain = reply.text[:3000] or "…"
    continued = t("reply.continued", reply.language)
    return [{"text": plain if i == 0 else continued, "blocks": m} for i, m in enumerate(messages)]
