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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from slack_bolt import Ack, BoltContext
from slack_bolt import App as BoltApp
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from bot.core.channel import Attachment, InboundMessage, Reply
from bot.core.errors import ConfigurationError, ServiceUnavailable
from bot.core.identity import identity_for_platform_user
from bot.core.jobs import JobContext
from bot.core.text import detect_language
from bot.core.models import Conversation, Feedback, Message, User
from integrations._acks import ack_limiter
from integrations.slack._render import FEEDBACK_DOWN, FEEDBACK_UP, reply_messages

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["SlackAdapter", "JOB_KIND", "COMMANDS"]

logger = logging.getLogger(__name__)

JOB_KIND = "slack_event"
COMMANDS = ("ask", "summary", "forecast", "resonance", "coach", "kb")
WORKING = "hourglass_flowing_sand"
STREAM_UPDATE_S = 1.5  # how often a streamed answer's placeholder is updated
_IGNORED_SUBTYPES = {"message_changed", "message_deleted", "bot_message", "channel_join", "channel_leave", "thread_broadcast"}


class SlackAdapter:
    platform = "slack"

    def __init__(self, app: App, client: WebClient | None = None) -> None:
        settings = app.settings
        if not (settings.slack_bot_token and settings.slack_signing_secret):
            raise ConfigurationError("Slack needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET.")
        self.app = app
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
        app.jobs.register(JOB_KIND, self.run_job)
        app.copilot.register_channel(self)

    def asgi(self) -> Starlette:
        """The HTTP endpoint: POST /slack/events (events, slash commands and button clicks)."""

        limiter = ack_limiter()

        async def endpoint(request: Request) -> Response:
            body = await request.body()
            bolt_request = to_bolt_request(request, body)
            # Bolt is synchronous: dispatch in worker threads so the event loop keeps accepting
            # requests while one waits on the database.
            return to_starlette_response(await anyio.to_thread.run_sync(self.bolt.dispatch, bolt_request, limiter=limiter))

        return Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])

    # --- listeners: record, queue, ack ------------------------------------------------------------
    def _register_listeners(self) -> None:
        bolt = self.bolt

        @bolt.event("app_mention")
        def on_mention(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
            self._queue_event(body, event, bot_user_id=context.bot_user_id)

        @bolt.event("message")
        def on_message(body: dict[str, Any], event: dict[str, Any]) -> None:
            if event.get("bot_id") or event.get("subtype") in _IGNORED_SUBTYPES:
                return
            if event.get("channel_type") == "im" or self._bot_in_thread(event):
                self._queue_event(body, event, bot_user_id=None)

        @bolt.command("/copilot")
        def on_command(ack: Ack, body: dict[str, Any]) -> None:
            text = (body.get("text") or "").strip()
            verb, _, rest = text.partition(" ")
            command = verb.lower() if verb.lower() in COMMANDS else "ask"
            question = rest if command == verb.lower() else text
            if not question and command in ("ask", "coach", "kb"):
                ack(f"Usage: /copilot [{'|'.join(COMMANDS)}] your question")
                return
            ack("Working on it…" if detect_language(text) == "en" else "正在处理……")
            payload = {
                "type": "command",
                "event_id": f"cmd:{body['trigger_id']}",
                "user": body["user_id"],
                "channel": body["channel_id"],
                "ts": None,
                "thread_ts": None,
                "text": question or command,
                "command": command,
                "files": [],
            }
            self.app.jobs.enqueue(JOB_KIND, payload, dedupe_key=f"slack:{payload['event_id']}")

        @bolt.action(FEEDBACK_UP)
        def on_up(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
            ack()
            self._store_feedback(body, action, +1)

        @bolt.action(FEEDBACK_DOWN)
        def on_down(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
            ack()
            self._store_feedback(body, action, -1)

    def _bot_in_thread(self, event: dict[str, Any]) -> bool:
        thread = event.get("thread_ts")
        if not thread:
            return False
        with self.app.db.session() as session:
            key = f"{event['channel']}:{thread}"
            return session.scalar(select(Conversation.id).where(Conversation.platform == self.platform, Conversation.external_key == key)) is not None

    def _queue_event(self, body: dict[str, Any], event: dict[str, Any], *, bot_user_id: str | None) -> None:
        event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
        text = event.get("text") or ""
        if bot_user_id:
            text = text.replace(f"<@{bot_user_id}>", "").strip()
        payload = {
            "type": "event",
            "event_id": event_id,
            "user": event.get("user"),
            "channel": event.get("channel"),
            "ts": event.get("ts"),
            "thread_ts": event.get("thread_ts") or event.get("ts"),
            "text": text,
            "command": None,
            "files": [
                {"name": f.get("name") or f.get("title") or f["id"], "mimetype": f.get("mimetype"), "url": f.get("url_private_download") or f.get("url_private"), "size": f.get("size")}
                for f in event.get("files", [])
            ],
        }
        # The event id is the job's unique key: a retry (also after a restart, or on another
        # replica sharing the database) finds the job already there, in the same single write.
        _job_id, created = self.app.jobs.enqueue(JOB_KIND, payload, dedupe_key=f"slack:{event_id}")
        if not created:
            logger.info("Slack retry of %s ignored", event_id)

    def _store_feedback(self, body: dict[str, Any], action: dict[str, Any], rating: int) -> None:
        with self.app.db.session() as session:
            message_id = int(action.get("value") or 0)
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
        p = ctx.payload
        channel, thread = p["channel"], p["thread_ts"]
        email = self._email(p["user"])
        with self.app.db.session() as session:
            identity = identity_for_platform_user(session, self.platform, p["user"], email, detect_language(p["text"]))
        if p["ts"]:
            self._react(channel, p["ts"], WORKING, add=True)
        attachments = tuple(self._download(f, p["event_id"]) for f in p["files"])
        placeholder = None
        if thread and not attachments:
            placeholder = self.client.chat_postMessage(channel=channel, thread_ts=thread, text="…")["ts"]
        streamer = _Streamer(self.client, channel, placeholder)
        message = InboundMessage(
            platform=self.platform,
            event_id=p["event_id"],
            user_external_id=p["user"],
            conversation_key=f"{channel}:{thread}" if thread else f"{channel}:{p['user']}",
            text=p["text"],
            attachments=attachments,
            user_email=email,
            command=p.get("command"),
        )
        reply = self.app.copilot.handle(message, identity, on_token=streamer.token if placeholder else None)
        self._post(channel, thread, reply, placeholder=placeholder, ephemeral_user=p["user"] if p["type"] == "command" and not thread else None)
        if p["ts"]:
            self._react(channel, p["ts"], WORKING, add=False)
        return {"kind": reply.kind, "job_id": reply.job_id}

    def _email(self, user: str) -> str | None:
        with self.app.db.session() as session:
            if session.scalar(select(User.id).where(User.slack_user_id == user)) is not None:
                return None  # already mapped: no need to ask Slack
        try:
            profile = self.client.users_info(user=user)["user"].get("profile", {})
        except SlackApiError:
            logger.warning("users.info failed for %s", user, exc_info=True)
            return None
        return profile.get("email")

    def _download(self, file: dict[str, Any], event_id: str) -> Attachment:
        target = self.app.settings.upload_dir / "slack" / event_id.replace("/", "_") / Path(file["name"]).name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with httpx.stream("GET", file["url"], headers={"Authorization": f"Bearer {self.token}"}, timeout=120, follow_redirects=True) as response:
                response.raise_for_status()
                with target.open("wb") as out:
                    for block in response.iter_bytes():
                        out.write(block)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"I couldn't download '{file['name']}' from Slack. Please upload it again.") from exc
        return Attachment(filename=target.name, local_path=target, mime_type=file.get("mimetype"), size_bytes=target.stat().st_size)

    def _react(self, channel: str, ts: str, name: str, *, add: bool) -> None:
        try:
            (self.client.reactions_add if add else self.client.reactions_remove)(channel=channel, timestamp=ts, name=name)
        except SlackApiError:
            pass  # a missing reaction permission must not lose the answer

    # --- the channel: post replies, now or when a background job ends -----------------------------------
    def deliver(self, conversation_key: str, reply: Reply, *, user_external_id: str) -> None:
        channel, _, thread = conversation_key.partition(":")
        self._post(channel, thread or None, reply)

    def _post(self, channel: str, thread: str | None, reply: Reply, *, placeholder: str | None = None, ephemeral_user: str | None = None) -> None:
        messages = reply_messages(reply)
        for index, message in enumerate(messages):
            if index == 0 and placeholder:
                self.client.chat_update(channel=channel, ts=placeholder, **message)
            elif ephemeral_user:
                self.client.chat_postEphemeral(channel=channel, user=ephemeral_user, **message)
            else:
                self.client.chat_postMessage(channel=channel, thread_ts=thread, **message)
        for image in reply.images:
            self.client.files_upload_v2(channel=channel, thread_ts=thread, file=str(image.path), title=image.title)


class _Streamer:
    """Updates the placeholder with the answer as tokens arrive, at most every STREAM_UPDATE_S."""

    def __init__(self, client: WebClient, channel: str, ts: str | None) -> None:
        self.client, self.channel, self.ts = client, channel, ts
        self.text = ""
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def token(self, token: str) -> None:
        with self.lock:
            self.text += token
            if self.ts and time.monotonic() - self.last >= STREAM_UPDATE_S:
                self.last = time.monotonic()
                try:
                    self.client.chat_update(channel=self.channel, ts=self.ts, text=self.text[:3000] + " …")
                except SlackApiError:
                    logger.debug("stream update failed", exc_info=True)
