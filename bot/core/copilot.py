"""The platform-free copilot core: one `InboundMessage` in, one `Reply` out.

It knows who is asking, keeps the conversation's memory, routes files (audio -> call
analysis job, documents -> knowledge base) and questions (-> the answerer), writes the
audit log, and tells the user when a background job they started has finished. It knows
nothing of Slack or WeCom: platforms come in through `bot.core.channel`, and the services it
routes to come in through its ports (`bot.core.ports`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from bot.core.access import can_add_knowledge
from bot.core.channel import Channel, InboundMessage, Reply, ReplyKind
from bot.core.db import SessionFactory
from bot.core.errors import CopilotError, PermissionDenied
from bot.core.identity import Identity, identity_for_platform_user, resolve_user
from bot.core.jobs import JobQueue, JobView
from bot.core.models import AuditLog, Conversation, JobStatus, Message, utcnow
from bot.core.ports import (
    Answerer,
    AnswerRequest,
    CallIntake,
    KnowledgeIntake,
    ResultFormatter,
    TokenCallback,
)
from bot.core.text import detect_language, t

__all__ = ["HISTORY_TURNS", "Copilot"]

logger = logging.getLogger(__name__)

HISTORY_TURNS = 6  # user+assistant messages kept as memory for follow-ups


class Copilot:
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        jobs: JobQueue,
        answerer: Answerer,
        knowledge: KnowledgeIntake,
        calls: CallIntake,
        default_language: str = "en",
    ) -> None:
        self.sessions = sessions
        self.answerer = answerer
        self.knowledge = knowledge
        self.calls = calls
        self.default_language = default_language
        self.channels: dict[str, Channel] = {}
        self.formatters: dict[str, ResultFormatter] = {}
        jobs.add_listener(self._job_finished)

    # --- wiring ------------------------------------------------------------------------------
    def register_channel(self, channel: Channel) -> None:
        self.channels[channel.platform] = channel

    def register_result_formatter(self, job_kind: str, formatter: ResultFormatter) -> None:
        """How to tell the user a finished job's result (e.g. call analysis -> gaps and coaching)."""
        self.formatters[job_kind] = formatter

    # --- identity ----------------------------------------------------------------------------
    def identify(self, message: InboundMessage) -> Identity:
        language = detect_language(message.text, self.default_language)
        with self.sessions() as session:
            if message.platform == "cli":
                return Identity.from_user(resolve_user(session, message.user_external_id))
            return identity_for_platform_user(
                session, message.platform, message.user_external_id, message.user_email, language
            )

    # --- the turn ----------------------------------------------------------------------------
    def handle(
        self, message: InboundMessage, identity: Identity | None = None, on_token: TokenCallback | None = None
    ) -> Reply:
        """Answer one message. Never raises for expected problems: they become a reply."""
        identity = identity or self.identify(message)
        language = detect_language(message.text, identity.language) if message.text.strip() else identity.language
        try:
            if message.attachments:
                reply = self._handle_files(message, identity, language)
            else:
                reply = self._handle_text(message, identity, language, on_token)
        except PermissionDenied as exc:
            self._audit(identity, message, "denied", [], outcome="denied")
            reply = Reply(text=exc.user_message, kind="refusal", language=language)
        except CopilotError as exc:
            reply = Reply(text=exc.user_message, kind="error", language=language)
        except Exception:
            logger.exception("unexpected error handling %s message %s", message.platform, message.event_id)
            reply = Reply(text=t("internal_error", language), kind="error", language=language)
        reply.language = language
        if not identity.is_known and reply.kind == "answer":
            reply.text = f"{reply.text}\n\n{t('unknown_user', language)}"
        return reply

    def _handle_text(
        self, message: InboundMessage, identity: Identity, language: str, on_token: TokenCallback | None = None
    ) -> Reply:
        conversation_id, history = self._load_history(message, identity)
        request = AnswerRequest(
            identity=identity,
            text=message.text.strip(),
            language=language,
            history=history,
            conversation_id=conversation_id,
            command=message.command,
        )
        reply = self.answerer.answer(request, on_token) if on_token else self.answerer.answer(request)
        reply.message_id = self._remember(conversation_id, identity, message.text, reply)
        records = [f"doc:{c.doc_id}" for c in reply.citations] + reply.records
        self._audit(identity, message, "ask", records)
        return reply

    def _handle_files(self, message: InboundMessage, identity: Identity, language: str) -> Reply:
        texts: list[str] = []
        kinds: list[ReplyKind] = []
        job_id: int | None = None
        for attachment in message.attachments:
            kind = attachment.kind
            if kind == "audio":
                if not identity.is_known:
                    raise PermissionDenied(t("unknown_user", language))
                notify = {
                    "platform": message.platform,
                    "conversation_key": message.conversation_key,
                    "user_external_id": message.user_external_id,
                    "language": language,
                }
                call_id, job_id = self.calls.submit(
                    identity,
                    attachment.local_path,
                    filename=attachment.filename,
                    source=message.platform,
                    notify=notify,
                )
                texts.append(t("call.accepted", language, name=attachment.filename, job=job_id))
                kinds.append("accepted")
                self._audit(identity, message, "call_upload", [f"call:{call_id}"])
            elif kind == "document":
                if not can_add_knowledge(identity):
                    texts.append(t("kb.refused", language, name=attachment.filename))
                    kinds.append("refusal")
                    self._audit(identity, message, "kb_add", [], outcome="denied")
                    continue
                outcome = self.knowledge.add_file(
                    identity, attachment.local_path, filename=attachment.filename, source=message.platform
                )
                key = "kb.added" if outcome.changed else "kb.unchanged"
                texts.append(t(key, language, title=outcome.title, chunks=outcome.chunk_count, version=outcome.version))
                kinds.append("answer")
                self._audit(identity, message, "kb_add", [f"doc:{outcome.doc_id}"])
            elif kind == "image":
                texts.append(t("file.image_unsupported", language))
                kinds.append("refusal")
            else:
                texts.append(t("file.unsupported", language, name=attachment.filename))
                kinds.append("refusal")
        if message.text.strip() and not any(a.kind == "audio" for a in message.attachments):
            # A document with a question: answer the question too, now that the doc is in.
            answer = self._handle_text(message, identity, language)
            texts.append(answer.text)
        overall: ReplyKind = "accepted" if "accepted" in kinds else ("answer" if "answer" in kinds else "refusal")
        return Reply(text="\n\n".join(texts), kind=overall, job_id=job_id, language=language)

    # --- memory ------------------------------------------------------------------------------
    def _load_history(self, message: InboundMessage, identity: Identity) -> tuple[int, list[tuple[str, str]]]:
        with self.sessions() as session:
            conversation = session.scalar(
                select(Conversation).where(
                    Conversation.platform == message.platform, Conversation.external_key == message.conversation_key
                )
            )
            if conversation is None:
                conversation = Conversation(
                    platform=message.platform, external_key=message.conversation_key, user_id=identity.user_id
                )
                session.add(conversation)
                session.flush()
            rows = session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.id.desc())
                .limit(HISTORY_TURNS)
            ).all()
            return conversation.id, [(m.role, m.content) for m in reversed(rows)]

    def _remember(self, conversation_id: int, identity: Identity, question: str, reply: Reply) -> int:
        with self.sessions() as session:
            session.add(
                Message(conversation_id=conversation_id, user_id=identity.user_id, role="user", content=question)
            )
            answer = Message(
                conversation_id=conversation_id,
                role="assistant",
                content=reply.text,
                meta={
                    "citations": [c.__dict__ for c in reply.citations],
                    "tool_calls": reply.tool_calls,
                    "kind": reply.kind,
                },
            )
            session.add(answer)
            conversation = session.get(Conversation, conversation_id)
            if conversation is not None:
                conversation.updated_at = utcnow()
            session.flush()
            return answer.id

    # --- audit -------------------------------------------------------------------------------
    def _audit(
        self, identity: Identity, message: InboundMessage, action: str, records: list[str], outcome: str = "ok"
    ) -> None:
        with self.sessions() as session:
            session.add(
                AuditLog(
                    user_id=identity.user_id,
                    platform=message.platform,
                    action=action,
                    query=message.text[:4000] or None,
                    records=sorted(set(records)),
                    outcome=outcome,
                )
            )

    # --- finished background jobs ------------------------------------------------------------
    def _job_finished(self, job: JobView) -> None:
        notify: dict[str, Any] | None = job.payload.get("notify")
        if not notify:
            return
        channel = self.channels.get(notify.get("platform", ""))
        if channel is None:
            return
        language = notify.get("language", "en")
        if job.status is JobStatus.FAILED:
            reply = Reply(
                text=job.error or t("internal_error", language), kind="error", job_id=job.id, language=language
            )
        elif job.kind in self.formatters:
            reply = self.formatters[job.kind](job, language)
        else:
            return
        reply.language = language
        channel.deliver(notify["conversation_key"], reply, user_external_id=notify.get("user_external_id", ""))
