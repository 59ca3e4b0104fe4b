"""The WeCom adapter: callback server (reply at once) + job (answer later) + channel (deliver).

Inside the callback request only cheap work happens: verify, decrypt, record the MsgId (a retry
is answered once, also after a restart), queue a job, return "success". WeCom gives a callback
five seconds; the answer may take minutes and is sent through the active message API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.core.channel import Attachment, InboundMessage, Reply
from bot.core.copilot import Copilot
from bot.core.errors import ConfigurationError, CopilotError
from bot.core.jobs import JobContext, JobQueue
from bot.core.settings import Settings
from bot.core.text import detect_language
from integrations._acks import AckThreads
from integrations.wecom._api import WeComAPI
from integrations.wecom._crypto import CallbackCrypto, CallbackRejected
from integrations.wecom._render import render, split_message

__all__ = ["CALLBACK_PATH", "JOB_KIND", "WeComAdapter"]

logger = logging.getLogger(__name__)

JOB_KIND = "wecom_message"
CALLBACK_PATH = "/wecom/callback"
_MEDIA_SUFFIX = {"voice": ".amr", "image": ".jpg", "video": ".mp4"}

WeComMessage = dict[str, str]
"""A decrypted callback: its XML fields, flat (wire data)."""


@dataclass(frozen=True)
class _QueuedMessage:
    """What the callback queues for the job. Stored in the job's JSON payload (next to the core's
    `notify`): the keys stay as they are, so jobs queued by an earlier version still run."""

    msg_id: str
    sender: str  # the WeCom userid; an app chat is one conversation per user
    type: str  # text, voice, image, file, video...
    content: str = ""
    media_id: str | None = None
    format: str | None = None  # a voice message's codec (amr)
    title: str | None = None  # a file's name

    @classmethod
    def of(cls, message: WeComMessage) -> _QueuedMessage:
        return cls(
            msg_id=message["MsgId"],
            sender=message.get("FromUserName", ""),
            type=message.get("MsgType", ""),
            content=message.get("Content", ""),
            media_id=message.get("MediaId"),
            format=message.get("Format"),
            title=message.get("Title") or message.get("FileName"),
        )

    def to_payload(self) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "from": self.sender,
            "type": self.type,
            "content": self.content,
            "media_id": self.media_id,
            "format": self.format,
            "title": self.title,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> _QueuedMessage:
        return cls(
            msg_id=payload["msg_id"],
            sender=payload["from"],
            type=payload["type"],
            content=payload.get("content") or "",
            media_id=payload.get("media_id"),
            format=payload.get("format"),
            title=payload.get("title"),
        )

    @property
    def media_filename(self) -> str:
        """A file keeps its own name; voice, images and video are named after the message."""
        if self.type == "file" and self.title:
            return Path(self.title).name
        suffix = "." + self.format.lower() if self.format else _MEDIA_SUFFIX.get(self.type, ".bin")
        return f"{self.type}-{self.msg_id}{suffix}"


class WeComAdapter:
    platform = "wecom"

    def __init__(self, settings: Settings, jobs: JobQueue, copilot: Copilot, api: WeComAPI | None = None) -> None:
        if not (settings.wecom_token and settings.wecom_encoding_aes_key and settings.wecom_corp_id):
            raise ConfigurationError("WeCom needs WECOM_TOKEN, WECOM_ENCODING_AES_KEY and WECOM_CORP_ID.")
        self.settings = settings
        self.jobs = jobs
        self.copilot = copilot
        self.crypto = CallbackCrypto(
            settings.wecom_token.get_secret_value(),
            settings.wecom_encoding_aes_key.get_secret_value(),
            settings.wecom_corp_id,
            settings.wecom_timestamp_window_s,
        )
        self.api = api or WeComAPI(settings)
        jobs.register(JOB_KIND, self.run_job)
        copilot.register_channel(self)

    # --- the callback: cheap and fast -----------------------------------------------------------
    def asgi(self) -> Starlette:
        """The callback endpoint: GET (URL verification) and POST (messages) at /wecom/callback."""
        acks = AckThreads()

        async def receive(request: Request) -> PlainTextResponse:
            body = await request.body()
            # Decrypting and the write (which may wait for the database) run in the ack threads,
            # so other callbacks still land meanwhile.
            return await acks.run(self._decrypt_and_accept, request, body)

        return Starlette(
            routes=[
                Route(CALLBACK_PATH, self._verify, methods=["GET"]),
                Route(CALLBACK_PATH, receive, methods=["POST"]),
            ]
        )

    def _verify(self, request: Request) -> PlainTextResponse:
        q = request.query_params
        try:
            echo = self.crypto.verify_url(
                q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", ""), q.get("echostr", "")
            )
        except CallbackRejected as exc:
            logger.warning("WeCom URL verification refused from %s: %s", _client_host(request), exc)
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(echo)

    def _decrypt_and_accept(self, request: Request, body: bytes) -> PlainTextResponse:
        q = request.query_params
        try:
            message = self.crypto.decrypt(body, q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", ""))
        except CallbackRejected as exc:
            logger.warning("WeCom callback refused from %s: %s", _client_host(request), exc)
            return PlainTextResponse("forbidden", status_code=403)
        self.accept(message)
        return PlainTextResponse("success")

    def accept(self, message: WeComMessage) -> int | None:
        """Queue a decrypted message once; returns the job id, or None for a retry or an event."""
        if message.get("MsgType", "") == "event" or not message.get("MsgId"):
            return None  # enter_agent and other events need no answer
        queued = _QueuedMessage.of(message)
        payload = {
            **queued.to_payload(),
            # If the job fails, the core tells the user why through this channel.
            "notify": {
                "platform": self.platform,
                "conversation_key": queued.sender,
                "user_external_id": queued.sender,
                "language": detect_language(queued.content, "zh"),
            },
        }
        # The MsgId is the job's unique key: a retry (also after a restart, or on another replica
        # sharing the database) finds the job already there, in the same single write.
        job_id, created = self.jobs.enqueue(JOB_KIND, payload, dedupe_key=f"wecom:{queued.msg_id}")
        if not created:
            logger.info("WeCom retry of MsgId %s ignored", queued.msg_id)
            return None
        return job_id

    # --- the job: the slow part ------------------------------------------------------------------
    def run_job(self, ctx: JobContext) -> dict[str, Any]:
        queued = _QueuedMessage.from_payload(ctx.payload)
        attachments = (self._download(queued, queued.media_id),) if queued.media_id else ()
        message = InboundMessage(
            platform=self.platform,
            event_id=queued.msg_id,
            user_external_id=queued.sender,
            conversation_key=queued.sender,  # an app chat is one thread per user: it is the memory
            text=queued.content,
            attachments=attachments,
        )
        reply = self.copilot.handle(message)
        self.deliver(queued.sender, reply, user_external_id=queued.sender)
        return {"kind": reply.kind, "job_id": reply.job_id}

    def _download(self, queued: _QueuedMessage, media_id: str) -> Attachment:
        name = queued.media_filename
        target = self.settings.upload_dir / "wecom" / queued.msg_id / name
        self.api.download_media(media_id, target)
        return Attachment(filename=name, local_path=target, size_bytes=target.stat().st_size)

    # --- the channel: delivering replies, now or when a background job ends -------------------------
    def deliver(self, conversation_key: str, reply: Reply, *, user_external_id: str) -> None:
        to_user = user_external_id or conversation_key
        for part in split_message(render(reply)):
            try:
                self.api.send_markdown(to_user, part)
            except CopilotError:
                # Some WeCom clients reject markdown for this app: plain text always works.
                logger.warning("markdown refused; sending text to %s", to_user, exc_info=True)
                self.api.send_text(to_user, part)


def _client_host(request: Request) -> str:
    return request.client.host if request.client else "?"
