"""The Slack adapter: a Bolt app whose listeners only record and queue (ack at once), a job that
does the slow work (files, identity, the answer), and a channel that posts replies in threads.

Retries: Slack resends an event it thinks was not acknowledged (`X-Slack-Retry-Num`, same
`event_id`). The event id is the queued job's unique key, so a retry is answered exactly once,
across restarts and across replicas sharing the database.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from slack_bolt import Ack, BoltContext
from slack_bolt import App as BoltApp
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.core.channel import Attachment, InboundMessage, Reply
from bot.core.copilot import Copilot
from bot.core.db import SessionFactory
from bot.core.errors import ConfigurationError, ServiceUnavailable
from bot.core.jobs import JobContext, JobQueue
from bot.core.models import Conversation, Feedback, Message, User
from bot.core.settings import Settings
from bot.core.text import detect_language, t
from integrations._acks import AckThreads
from integrations.slack._render import FEEDBACK_DOWN, FEEDBACK_UP, reply_messages

__all__ = ["COMMANDS", "EVENTS_PATH", "JOB_KIND", "SlackAdapter"]

logger = logging.getLogger(__name__)

JOB_KIND = "slack_event"
EVENTS_PATH = "/slack/events"
COMMANDS = ("ask", "summary", "forecast", "resonance", "coach", "kb")
WORKING = "hourglass_flowing_sand"
STREAM_UPDATE_S = 1.5  # how often a streamed answer's placeholder is updated
_IGNORED_SUBTYPES = frozenset(
    {"message_changed", "message_deleted", "bot_message", "channel_join", "channel_leave", "thread_broadcast"}
)

SlackEvent = dict[str, Any]
"""A payload as Slack sends it (an event, a slash command's form, a button click): wire data."""


@dataclass(frozen=True)
class _SharedFile:
    name: str
    mimetype: str | None
    url: str | None
    size: int | None

    @classmethod
    def of(cls, file: SlackEvent) -> _SharedFile:
        return cls(
            name=file.get("name") or file.get("title") or file["id"],
            mimetype=file.get("mimetype"),
            url=file.get("url_private_download") or file.get("url_private"),
            size=file.get("size"),
        )


@dataclass(frozen=True)
class _QueuedEvent:
    """What a listener queues for the job. Stored as the job's JSON payload: the keys stay as
    they are, so jobs queued by an earlier version still run after an upgrade."""

    type: Literal["event", "command"]
    event_id: str
    user: str
    channel: str
    ts: str | None  # the message to react to (none for a slash command)
    thread_ts: str | None  # the thread to answer in (none: a slash command answers ephemerally)
    text: str
    command: str | None = None
    files: tuple[_SharedFile, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "event_id": self.event_id,
            "user": self.user,
            "channel": self.channel,
            "ts": self.ts,
            "thread_ts": self.thread_ts,
            "text": self.text,
            "command": self.command,
            "files": [{"name": f.name, "mimetype": f.mimetype, "url": f.url, "size": f.size} for f in self.files],
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> _QueuedEvent:
        return cls(
            type=payload["type"],
            event_id=payload["event_id"],
            user=payload["user"],
            channel=payload["channel"],
            ts=payload["ts"],
            thread_ts=payload["thread_ts"],
            text=payload["text"],
            command=payload.get("command"),
            files=tuple(_SharedFile(**file) for file in payload.get("files", [])),
        )

    @property
    def conversation_key(self) -> str:
        return f"{self.channel}:{self.thread_ts or self.user}"


class SlackAdapter:
    platform = "slack"

    def __init__(
        self,
        settings: Settings,
        sessions: SessionFactory,
        jobs: JobQueue,
        copilot: Copilot,
        client: WebClient | None = None,
    ) -> None:
        if not (settings.slack_bot_token and settings.slack_signing_secret):
            raise ConfigurationError("Slack needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET.")
        self.settings = settings
        self.sessions = sessions
        self.jobs = jobs
        self.copilot = copilot
        self.token = settings.slack_bot_token.get_secret_value()
        self.client = client or WebClient(token=self.token, base_url=settings.slack_api_url)
        self.bolt = BoltApp(
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            client=self.client,
            # Listeners only record and queue (milliseconds), so they finish before the ack:
            # the job is durable before Slack hears 200.
            process_before_response=True,
        )
        self._register_listeners()
        jobs.register(JOB_KIND, self.run_job)
        copilot.register_channel(self)

    def asgi(self) -> Starlette:
        """The HTTP endpoint: POST /slack/events (events, slash commands and button clicks)."""
        acks = AckThreads()

        async def endpoint(request: Request) -> Response:
            bolt_request = to_bolt_request(request, await request.body())
            # Bolt is synchronous: it dispatches in the ack threads, so the event loop keeps
            # accepting requests while one waits on the database.
            return to_starlette_response(await acks.run(self.bolt.dispatch, bolt_request))

        return Starlette(routes=[Route(EVENTS_PATH, endpoint, methods=["POST"])])

    # --- listeners: record, queue, ack ------------------------------------------------------------
    def _register_listeners(self) -> None:
        bolt = self.bolt

        @bolt.event("app_mention")
        def on_mention(body: SlackEvent, event: SlackEvent, context: BoltContext) -> None:
            self._queue_event(body, event, bot_user_id=context.bot_user_id)

        @bolt.event("message")
        def on_message(body: SlackEvent, event: SlackEvent) -> None:
            if event.get("bot_id") or event.get("subtype") in _IGNORED_SUBTYPES:
                return
            if event.get("channel_type") == "im" or self._bot_in_thread(event):
                self._queue_event(body, event, bot_user_id=None)

        @bolt.command("/copilot")
        def on_command(ack: Ack, body: SlackEvent) -> None:
            self._queue_command(ack, body)

        @bolt.action(FEEDBACK_UP)
        def on_up(ack: Ack, body: SlackEvent, action: SlackEvent) -> None:
            ack()
            self._store_feedback(body, action, +1)

        @bolt.action(FEEDBACK_DOWN)
        def on_down(ack: Ack, body: SlackEvent, action: SlackEvent) -> None:
            ack()
            self._store_feedback(body, action, -1)

    def _bot_in_thread(self, event: SlackEvent) -> bool:
        """A reply in a thread the bot has answered (its conversation exists)."""
        thread = event.get("thread_ts")
        if not thread:
            return False
        key = f"{event['channel']}:{thread}"
        with self.sessions() as session:
            found = session.scalar(
                select(Conversation.id).where(Conversation.platform == self.platform, Conversation.external_key == key)
            )
        return found is not None

    def _queue_event(self, body: SlackEvent, event: SlackEvent, *, bot_user_id: str | None) -> None:
        event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
        text = event.get("text") or ""
        if bot_user_id:
            text = text.replace(f"<@{bot_user_id}>", "").strip()
        queued = _QueuedEvent(
            type="event",
            event_id=event_id,
            user=event.get("user") or "",
            channel=event.get("channel") or "",
            ts=event.get("ts"),
            thread_ts=event.get("thread_ts") or event.get("ts"),
            text=text,
            files=tuple(_SharedFile.of(file) for file in event.get("files", [])),
        )
        if not self._enqueue(queued):
            logger.info("Slack retry of %s ignored", event_id)

    def _queue_command(self, ack: Ack, body: SlackEvent) -> None:
        text = (body.get("text") or "").strip()
        verb, _, rest = text.partition(" ")
        command = verb.lower() if verb.lower() in COMMANDS else "ask"
        question = rest if command == verb.lower() else text
        language = detect_language(text)
        if not question and command in ("ask", "coach", "kb"):
            ack(t("command_usage", language, commands="|".join(COMMANDS)))
            return
        ack(t("working", language))
        self._enqueue(
            _QueuedEvent(
                type="command",
                event_id=f"cmd:{body['trigger_id']}",
                user=body["user_id"],
                channel=body["channel_id"],
                ts=None,
                thread_ts=None,
                text=question or command,
                command=command,
            )
        )

    def _enqueue(self, queued: _QueuedEvent) -> bool:
        """Queue once: False when the event id was queued before (a retry).

        The event id is the job's unique key: a retry (also after a restart, or on another
        replica sharing the database) finds the job already there, in the same single write."""
        _job_id, created = self.jobs.enqueue(JOB_KIND, queued.to_payload(), dedupe_key=f"slack:{queued.event_id}")
        return created

    def _store_feedback(self, body: SlackEvent, action: SlackEvent, rating: int) -> None:
        message_id = int(action.get("value") or 0)
        with self.sessions() as session:
            user_id = session.scalar(select(User.id).where(User.slack_user_id == body.get("user", {}).get("id")))
            session.add(
                Feedback(
                    message_id=message_id if session.get(Message, message_id) else None,
                    user_id=user_id,
                    platform=self.platform,
                    rating=rating,
                )
            )

    # --- the job: the slow part ------------------------------------------------------------------------
    def run_job(self, ctx: JobContext) -> dict[str, Any]:
        queued = _QueuedEvent.from_payload(ctx.payload)
        channel, thread = queued.channel, queued.thread_ts
        email = self._email(queued.user)
        if queued.ts:
            self._react(channel, queued.ts, add=True)
        attachments = tuple(self._download(file, queued.event_id) for file in queued.files)
        placeholder: str | None = None
        if thread and not attachments:
            placeholder = self.client.chat_postMessage(channel=channel, thread_ts=thread, text="…")["ts"]
        message = InboundMessage(
            platform=self.platform,
            event_id=queued.event_id,
            user_external_id=queued.user,
            conversation_key=queued.conversation_key,
            text=queued.text,
            attachments=attachments,
            user_email=email,
            command=queued.command,
        )
        # The core finds the user (stored Slack id, else the email, which it then links).
        on_token = _Streamer(self.client, channel, placeholder).token if placeholder else None
        reply = self.copilot.handle(message, on_token=on_token)
        ephemeral_user = queued.user if queued.type == "command" and not thread else None
        self._post(channel, thread, reply, placeholder=placeholder, ephemeral_user=ephemeral_user)
        if queued.ts:
            self._react(channel, queued.ts, add=False)
        return {"kind": reply.kind, "job_id": reply.job_id}

    def _email(self, user: str) -> str | None:
        """The user's email from Slack, needed only while their Slack id is not linked yet."""
        with self.sessions() as session:
            if session.scalar(select(User.id).where(User.slack_user_id == user)) is not None:
                return None  # already mapped: no need to ask Slack
        try:
            profile = self.client.users_info(user=user)["user"].get("profile", {})
        except SlackApiError:
            logger.warning("users.info failed for %s", user, exc_info=True)
            return None
        return profile.get("email")

    def _download(self, file: _SharedFile, event_id: str) -> Attachment:
        target = self.settings.upload_dir / "slack" / event_id.replace("/", "_") / Path(file.name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        if file.url is None:
            raise _download_failed(file)
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            with httpx.stream("GET", file.url, headers=headers, timeout=120, follow_redirects=True) as response:
                response.raise_for_status()
                with target.open("wb") as out:
                    for block in response.iter_bytes():
                        out.write(block)
        except httpx.HTTPError as exc:
            raise _download_failed(file) from exc
        return Attachment(
            filename=target.name, local_path=target, mime_type=file.mimetype, size_bytes=target.stat().st_size
        )

    def _react(self, channel: str, ts: str, *, add: bool) -> None:
        """Show work under way on the user's message (the ⏳ reaction), or take it away."""
        react = self.client.reactions_add if add else self.client.reactions_remove
        try:
            react(channel=channel, timestamp=ts, name=WORKING)
        except SlackApiError:  # a missing reaction permission must not lose the answer
            logger.debug("reaction on %s failed", ts, exc_info=True)

    # --- the channel: post replies, now or when a background job ends -----------------------------------
    def deliver(self, conversation_key: str, reply: Reply, *, user_external_id: str) -> None:
        channel, _, thread = conversation_key.partition(":")
        self._post(channel, thread or None, reply)

    def _post(
        self,
        channel: str,
        thread: str | None,
        reply: Reply,
        *,
        placeholder: str | None = None,
        ephemeral_user: str | None = None,
    ) -> None:
        for index, message in enumerate(reply_messages(reply)):
            if index == 0 and placeholder:
                self.client.chat_update(channel=channel, ts=placeholder, **message)
            elif ephemeral_user:
                self.client.chat_postEphemeral(channel=channel, user=ephemeral_user, **message)
            else:
                self.client.chat_postMessage(channel=channel, thread_ts=thread, **message)
        for image in reply.images:
            self.client.files_upload_v2(channel=channel, thread_ts=thread, file=str(image.path), title=image.title)


def _download_failed(file: _SharedFile) -> ServiceUnavailable:
    return ServiceUnavailable(f"I couldn't download '{file.name}' from Slack. Please upload it again.")


class _Streamer:
    """Updates the placeholder with the answer as tokens arrive, at most every STREAM_UPDATE_S."""

    def __init__(self, client: WebClient, channel: str, ts: str) -> None:
        self.client = client
        self.channel = channel
        self.ts = ts
        self.text = ""
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def token(self, token: str) -> None:
        with self.lock:
            self.text += token
            if time.monotonic() - self.last >= STREAM_UPDATE_S:
                self.last = time.monotonic()
                try:
                    self.client.chat_update(channel=self.channel, ts=self.ts, text=self.text[:3000] + " …")
                except SlackApiError:
                    logger.debug("stream update failed", exc_info=True)
