"""The copilot core with scripted services: routing, memory, audit, dedupe, notifications."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from bot.core.channel import Attachment, Citation, InboundMessage, Reply
from bot.core.copilot import Copilot
from bot.core.jobs import JobContext
from bot.core.models import AuditLog, Message
from bot.core.ports import AnswerRequest, IngestOutcome


@dataclass
class ScriptedAnswerer:
    requests: list[AnswerRequest] = field(default_factory=list)

    def answer(self, request: AnswerRequest) -> Reply:
        self.requests.append(request)
        return Reply(
            text=f"answer {len(self.requests)}",
            citations=[Citation(1, 7, "Price objection talk tracks", "kb/price.md")],
            records=["account:3"],
        )


@dataclass
class RecordingKnowledge:
    added: list[tuple[str, Path]] = field(default_factory=list)

    def add_file(self, identity, path, *, filename=None, source="cli", **_meta) -> IngestOutcome:
        self.added.append((identity.handle, path))
        return IngestOutcome(doc_id=11, title=filename or path.name, version=1, chunk_count=4, changed=True)


@dataclass
class RecordingCalls:
    app: object
    submitted: list[tuple[str, str]] = field(default_factory=list)

    def submit(self, identity, path, *, filename, source, notify=None):
        self.submitted.append((identity.handle, filename))
        job_id, _ = self.app.jobs.enqueue("call_analysis", {"call_id": 1, "notify": notify})
        return 1, job_id


@dataclass
class RecordingChannel:
    platform: str = "slack"
    delivered: list[tuple[str, Reply]] = field(default_factory=list)

    def deliver(self, conversation_key: str, reply: Reply, *, user_external_id: str) -> None:
        self.delivered.append((conversation_key, reply))


def _wire(app, answerer=None):
    """A copilot core over the app's database and queue, with scripted services plugged in."""
    answerer = answerer or ScriptedAnswerer()
    knowledge, calls = RecordingKnowledge(), RecordingCalls(app)
    copilot = Copilot(sessions=app.db.session, jobs=app.jobs, answerer=answerer, knowledge=knowledge, calls=calls)
    return copilot, answerer, knowledge, calls


def _msg(user: str, text: str = "", *files: Path, platform: str = "slack", key: str = "C1:100.1") -> InboundMessage:
    return InboundMessage(
        platform=platform,
        event_id=f"ev-{text}-{len(files)}",
        user_external_id=user,
        conversation_key=key,
        text=text,
        attachments=tuple(Attachment(filename=f.name, local_path=f) for f in files),
    )


def test_questions_get_memory_of_their_thread_and_are_audited(org_app) -> None:
    copilot, answerer, _, _ = _wire(org_app)
    # U0DEMO002 is li.wei's Slack id in the demo org.
    first = copilot.handle(_msg("U0DEMO002", "What is Acme's budget?"))
    second = copilot.handle(_msg("U0DEMO002", "and who signs?"))
    other_thread = copilot.handle(_msg("U0DEMO002", "hello", key="C1:999.9"))
    assert first.kind == second.kind == other_thread.kind == "answer"
    assert answerer.requests[0].history == []
    assert answerer.requests[1].history == [("user", "What is Acme's budget?"), ("assistant", "answer 1")]
    assert answerer.requests[2].history == []
    assert answerer.requests[1].identity.handle == "li.wei"
    assert second.message_id is not None
    with org_app.db.session() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "ask")).all()
        assert len(audit) == 3 and audit[0].records == ["account:3", "doc:7"]
        assert session.scalar(select(Message.content).where(Message.id == second.message_id)) == "answer 2"


def test_chinese_question_is_answered_in_chinese(org_app) -> None:
    copilot, answerer, _, _ = _wire(org_app)
    reply = copilot.handle(_msg("U0DEMO010", "九章数据的弱点是什么？"))  # jason.reed asks in Chinese
    assert answerer.requests[0].language == "zh" and reply.language == "zh"


def test_unknown_user_is_answered_with_public_knowledge_and_told_how_to_get_access(org_app) -> None:
    copilot, answerer, _, _ = _wire(org_app)
    reply = copilot.handle(_msg("USTRANGER", "What is Lumina Insight?"))
    assert answerer.requests[0].identity.role is None
    assert "sales-ops admin" in reply.text


def test_documents_go_to_the_knowledge_base_only_from_trainers(org_app, tmp_path) -> None:
    copilot, _, knowledge, _ = _wire(org_app)
    doc = tmp_path / "battlecard.pdf"
    doc.write_bytes(b"%PDF-1.4")
    refused = copilot.handle(_msg("U0DEMO002", "", doc))  # a rep
    assert refused.kind == "refusal" and knowledge.added == []
    accepted = copilot.handle(_msg("U0DEMO013", "", doc))  # zhao.lin, the trainer
    assert accepted.kind == "answer" and knowledge.added == [("zhao.lin", doc)]
    with org_app.db.session() as session:
        outcomes = session.scalars(select(AuditLog.outcome).where(AuditLog.action == "kb_add")).all()
        assert sorted(outcomes) == ["denied", "ok"]


def test_audio_becomes_a_call_job_and_its_result_is_delivered_to_the_thread(org_app, tmp_path) -> None:
    copilot, _, _, calls = _wire(org_app)
    channel = RecordingChannel()
    copilot.register_channel(channel)
    copilot.register_result_formatter(
        "call_analysis", lambda job, language: Reply(text=f"3 gaps found ({language})", job_id=job.id)
    )
    org_app.jobs.register("call_analysis", lambda ctx: {"gaps": 3})
    audio = tmp_path / "call.m4a"
    audio.write_bytes(b"\x00" * 10)
    reply = copilot.handle(_msg("U0DEMO002", "", audio))
    assert reply.kind == "accepted" and reply.job_id is not None and calls.submitted == [("li.wei", "call.m4a")]
    org_app.jobs.run_until_idle()
    # li.wei works in Chinese: a file with no text is answered in the user's language.
    ((key, delivered),) = channel.delivered
    assert key == "C1:100.1" and delivered.text == "3 gaps found (zh)" and delivered.language == "zh"


def test_a_failed_job_tells_the_user_why(org_app, tmp_path) -> None:
    copilot, *_ = _wire(org_app)
    channel = RecordingChannel()
    copilot.register_channel(channel)

    def fail(ctx: JobContext) -> None:
        from bot.core.errors import InvalidInput

        raise InvalidInput("The recording is 2 h 05 min long; the limit is 90 minutes. Split it and send the parts.")

    org_app.jobs.register("call_analysis", fail)
    audio = tmp_path / "long.mp3"
    audio.write_bytes(b"\x00")
    copilot.handle(_msg("U0DEMO002", "", audio))
    org_app.jobs.run_until_idle()
    ((_key, reply),) = channel.delivered
    assert reply.kind == "error" and "90 minutes" in reply.text


def test_images_and_unknown_files_are_refused_politely(org_app, tmp_path) -> None:
    copilot, *_ = _wire(org_app)
    image, binary = tmp_path / "screen.png", tmp_path / "tool.exe"
    image.write_bytes(b"\x89PNG")
    binary.write_bytes(b"MZ")
    assert "not supported" in copilot.handle(_msg("U0DEMO010", "", image)).text  # jason.reed
    assert "暂不支持图片" in copilot.handle(_msg("U0DEMO002", "", image)).text  # li.wei
    assert "tool.exe" in copilot.handle(_msg("U0DEMO010", "", binary)).text


def test_an_answerer_crash_becomes_a_polite_error(org_app) -> None:
    class Broken:
        def answer(self, request: AnswerRequest) -> Reply:
            raise RuntimeError("llama.cpp exploded")

    copilot, *_ = _wire(org_app, answerer=Broken())
    reply = copilot.handle(_msg("U0DEMO002", "hi"))
    assert reply.kind == "error" and "exploded" not in reply.text
