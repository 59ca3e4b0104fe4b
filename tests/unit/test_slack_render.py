"""A Reply as Slack Block Kit: mrkdwn, Slack's size limits, sources and feedback buttons."""

from __future__ import annotations

from bot.core.channel import Citation, Reply, ReplyTable
from integrations.slack import reply_messages, to_mrkdwn
from integrations.slack._render import BLOCKS_LIMIT, FEEDBACK_DOWN, FEEDBACK_UP, SECTION_LIMIT


def test_markdown_becomes_mrkdwn_with_slacks_escapes() -> None:
    text = "## Next steps\n**Ask** about [the ROI sheet](https://example.com/roi) & budget <now>"
    assert (
        to_mrkdwn(text) == "*Next steps*\n*Ask* about <https://example.com/roi|the ROI sheet> &amp; budget &lt;now&gt;"
    )


def test_an_answer_has_its_text_table_sources_and_feedback_buttons() -> None:
    reply = Reply(
        text="Probe first [1].",
        citations=[Citation(1, 7, "Price Objection Talk Tracks", "kb/price.md")],
        tables=[ReplyTable(("stage", "amount"), (("proposal", "120,000"),), "Pipeline")],
        message_id=12,
    )
    [message] = reply_messages(reply)
    assert message["text"] == "Probe first [1]."
    blocks = message["blocks"]
    assert [b["type"] for b in blocks] == ["section", "section", "context", "actions"]
    assert blocks[1]["text"]["text"].startswith("*Pipeline*\n```stage")
    assert blocks[2]["elements"][0]["text"] == "*Sources:* [1] Price Objection Talk Tracks"
    buttons = blocks[3]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [(FEEDBACK_UP, "12"), (FEEDBACK_DOWN, "12")]
    assert blocks[3]["block_id"] == "feedback:12"


def test_sources_are_labelled_in_the_reply_language() -> None:
    reply = Reply(text="先问后答 [1]。", citations=[Citation(1, 3, "价格异议应对话术", "kb/price.md")], language="zh")
    [message] = reply_messages(reply)
    assert message["blocks"][-1]["elements"][0]["text"].startswith("*来源:* [1] 价格异议应对话术")


def test_refusals_and_unsaved_answers_get_no_feedback_buttons() -> None:
    for reply in (Reply(text="No.", kind="refusal", message_id=3), Reply(text="Hello.")):
        assert all(b["type"] != "actions" for m in reply_messages(reply) for b in m["blocks"])


def test_long_answers_are_split_within_slacks_limits_with_the_tail_on_the_last_message() -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "value " * 100 for i in range(60))
    messages = reply_messages(Reply(text=text, citations=[Citation(1, 1, "Doc", "kb/doc.md")], message_id=5))
    assert len(messages) >= 2
    for message in messages:
        assert len(message["blocks"]) <= BLOCKS_LIMIT
        assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in message["blocks"] if b["type"] == "section")
    assert [b["type"] for b in messages[-1]["blocks"]][-2:] == ["context", "actions"]
    assert all(b["type"] == "section" for m in messages[:-1] for b in m["blocks"])
    assert [m["text"] for m in messages[1:]] == ["(continued)"] * (len(messages) - 1)
    # Nothing is lost in the cuts: every paragraph is in some section.
    sections = " ".join(b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section")
    assert all(f"Paragraph {i}:" in sections for i in range(60))


def test_an_empty_answer_still_has_a_notification_text() -> None:
    [message] = reply_messages(Reply(text=""))
    assert message["text"] == "…"
