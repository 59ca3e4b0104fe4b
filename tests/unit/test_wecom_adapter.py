"""The WeCom adapter without HTTP: what a callback queues, what the job hands the core, and how
replies reach the user (markdown first, plain text when WeCom refuses markdown)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.core.channel import Channel, InboundMessage, Reply
from bot.core.errors import ServiceUnavailable
from bot.core.jobs import JobHandler, JobListener, JobStatus, JobView
from bot.core.settings import Settings
from integrations.wecom import JOB_KIND, WeComAdapter

TOKEN, AES_KEY, CORP_ID = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"


@dataclass
class MemoryJobs:
    """A job queue in a list, keeping the one rule the adapter relies on: one job per dedupe key."""

    handlers: dict[str, JobHandler] = field(default_factory=dict)
    queued: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)

    def register(self, kind: str, handler: JobHandler) -> None:
        self.handlers[kind] = handler

    def add_listener(self, listener: JobListener) -> None:
        raise AssertionError("the adapter does not listen to jobs")

    def enqueue(
        self, kind: str, payload: dict[str, Any], *, created_by_id: int | None = None, dedupe_key: str | None = None
    ) -> tuple[int, bool]:
        for index, (_kind, _payload, key) in enumerate(self.queued, start=1):
            if dedupe_key is not None and key == dedupe_key:
                return index, False
        self.queued.append((kind, payload, dedupe_key))
        return len(self.queued), True


@dataclass
class ScriptedCopilot:
    reply: Reply
    channels: dict[str, Channel] = field(default_factory=dict)
    handled: list[InboundMessage] = field(default_factory=list)

    def register_channel(self, channel: Channel) -> None:
        self.channels[channel.platform] = channel

    def handle(self, message: InboundMessage) -> Reply:
        self.handled.append(message)
        return self.reply


@dataclass
class RecordingAPI:
    """WeCom's message and media API; `refuse_markdown` plays a client that cannot show markdown."""

    refuse_markdown: bool = False
    media: dict[str, bytes] = field(default_factory=dict)
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send_markdown(self, to_user: str, content: str) -> None:
        if self.refuse_markdown:
            raise ServiceUnavailable("WeCom did not accept the message.")
        self.sent.append(("markdown", to_user, content))

    def send_text(self, to_user: str, content: str) -> None:
        self.sent.append(("text", to_user, content))

    def download_media(self, media_id: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.media[media_id])
        return target


@dataclass
class Context:
    job: JobView

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    def progress(self, fraction: float, note: str | None = None) -> None:
        pass


def job_of(payload: dict[str, Any]) -> Context:
    view = JobView(1, JOB_KIND, JobStatus.RUNNING, payload, None, None, 0.0, None, 1, None)
    return Context(view)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        llm_provider="none",
        wecom_corp_id=CORP_ID,
        wecom_token=TOKEN,
        wecom_encoding_aes_key=AES_KEY,
    )


def build(
    settings: Settings, reply: Reply | None = None, **api: Any
) -> tuple[WeComAdapter, MemoryJobs, ScriptedCopilot, RecordingAPI]:
    jobs, copilot, wecom = MemoryJobs(), ScriptedCopilot(reply or Reply(text="ok")), RecordingAPI(**api)
    adapter = WeComAdapter(settings, jobs, copilot, api=wecom)  # fakes with the shapes it uses
    return adapter, jobs, copilot, wecom


def test_the_adapter_registers_its_job_and_its_channel(settings) -> None:
    adapter, jobs, copilot, _ = build(settings)
    assert jobs.handlers[JOB_KIND] == adapter.run_job
    assert copilot.channels["wecom"] is adapter


def test_a_message_is_queued_once_by_its_msgid_with_where_to_tell_the_user(settings) -> None:
    adapter, jobs, _, _ = build(settings)
    message = {"FromUserName": "LiWei", "MsgType": "text", "Content": "九章数据的弱点是什么？", "MsgId": "1001"}
    assert adapter.accept(message) == 1
    assert adapter.accept(message) is None  # WeCom's retry
    [(kind, payload, key)] = jobs.queued
    assert kind == JOB_KIND and key == "wecom:1001"
    assert payload["msg_id"] == "1001" and payload["from"] == "LiWei" and payload["content"] == message["Content"]
    assert payload["notify"] == {
        "platform": "wecom",
        "conversation_key": "LiWei",
        "user_external_id": "LiWei",
        "language": "zh",
    }


def test_events_and_messages_without_an_id_are_not_queued(settings) -> None:
    adapter, jobs, _, _ = build(settings)
    assert adapter.accept({"FromUserName": "LiWei", "MsgType": "event", "Event": "enter_agent"}) is None
    assert adapter.accept({"FromUserName": "LiWei", "MsgType": "text", "Content": "hi"}) is None
    assert jobs.queued == []


def test_the_job_hands_the_core_one_message_per_user_conversation_and_sends_the_reply(settings) -> None:
    adapter, _, copilot, wecom = build(settings, Reply(text="Probe first."))
    # A payload as stored by the callback (the job may run after a restart or an upgrade).
    payload = {
        "msg_id": "1001",
        "from": "LiWei",
        "type": "text",
        "content": "pricing?",
        "media_id": None,
        "format": None,
        "title": None,
        "notify": {"platform": "wecom"},
    }
    assert adapter.run_job(job_of(payload)) == {"kind": "answer", "job_id": None}
    [message] = copilot.handled
    assert (message.platform, message.event_id, message.user_external_id) == ("wecom", "1001", "LiWei")
    assert message.conversation_key == "LiWei" and message.text == "pricing?" and message.attachments == ()
    assert wecom.sent == [("markdown", "LiWei", "Probe first.")]


def test_voice_is_downloaded_under_a_name_of_its_message_and_files_keep_theirs(settings) -> None:
    adapter, jobs, copilot, _ = build(settings, media={"V1": b"#!AMR\n", "F1": b"# Playbook"})
    adapter.accept({"FromUserName": "LiWei", "MsgType": "voice", "MediaId": "V1", "Format": "AMR", "MsgId": "7"})
    adapter.accept({"FromUserName": "LiWei", "MsgType": "file", "MediaId": "F1", "Title": "../p.md", "MsgId": "8"})
    for _kind, payload, _key in jobs.queued:
        adapter.run_job(job_of(payload))
    voice, document = (message.attachments[0] for message in copilot.handled)
    assert voice.filename == "voice-7.amr" and voice.kind == "audio" and voice.local_path.read_bytes() == b"#!AMR\n"
    assert document.filename == "p.md" and document.kind == "document"
    assert document.local_path == settings.upload_dir / "wecom" / "8" / "p.md"


def test_replies_fall_back_to_plain_text_when_markdown_is_refused(settings) -> None:
    adapter, _, _, wecom = build(settings, refuse_markdown=True)
    adapter.deliver("LiWei", Reply(text="预算先问清楚。" * 200, language="zh"), user_external_id="LiWei")
    assert len(wecom.sent) > 1  # split under WeCom's 2,048 bytes, each part sent as text
    assert all(kind == "text" and to == "LiWei" and len(part.encode()) <= 2048 for kind, to, part in wecom.sent)
    assert "".join(part for _, _, part in wecom.sent) == "预算先问清楚。" * 200
