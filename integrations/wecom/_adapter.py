"""The WeCom adapter: callback server (reply at once) + job (answer later) + channel (deliver).

Inside the callback request only cheap work happens: verify, decrypt, record the MsgId (a retry
is answered once, also after a restart), queue a job, return "success". WeCom gives a callback
five seconds; the answer may take minutes and is sent through the active message API.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bot.core.channel import Attachment, InboundMessage, Reply
from bot.core.errors import ConfigurationError, CopilotError
from bot.core.jobs import JobContext
from bot.core.text import detect_language
from integrations._acks import ack_limiter
from integrations.wecom._api import WeComAPI
from integrations.wecom._crypto import CallbackCrypto, CallbackRejected
from integrations.wecom._render import render, split_message

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["WeComAdapter", "JOB_KIND"]

logger = logging.getLogger(__name__)

JOB_KIND = "wecom_message"
CALLBACK_PATH = "/wecom/callback"
_MEDIA_SUFFIX = {"voice": ".amr", "image": ".jpg", "video": ".mp4"}


class WeComAdapter:
    platform = "wecom"

    def __init__(self, app: App, api: WeComAPI | None = None) -> None:
        settings = app.settings
        if not (settings.wecom_token and settings.wecom_encoding_aes_key and settings.wecom_corp_id):
            raise ConfigurationError("WeCom needs WECOM_TOKEN, WECOM_ENCODING_AES_KEY and WECOM_CORP_ID.")
        self.app = app
        self.crypto = CallbackCrypto(
            settings.wecom_token.get_secret_value(),
            settings.wecom_encoding_aes_key.get_secret_value(),
            settings.wecom_corp_id,
            settings.wecom_timestamp_window_s,
        )
        self.api = api or WeComAPI(settings)
        app.jobs.register(JOB_KIND, self.run_job)
        app.copilot.register_channel(self)

    # --- the callback: cheap and fast -----------------------------------------------------------
    def asgi(self) -> Starlette:
        self._acks = ack_limiter()
        return Starlette(routes=[Route(CALLBACK_PATH, self._verify, methods=["GET"]), Route(CALLBACK_PATH, self._receive, methods=["POST"])])

    def _verify(self, request: Request) -> PlainTextResponse:
        q = request.query_params
        try:
            echo = self.crypto.verify_url(q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", ""), q.get("echostr", ""))
        except CallbackRejected as exc:
            logger.warning("WeCom URL verification refused from %s: %s", request.client.host if request.client else "?", exc)
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(echo)

    async def _receive(self, request: Request) -> PlainTextResponse:
        body = await request.body()
        # Decrypting and the write (which may wait for the database) run off the event loop, so
        # other callbacks still land meanwhile.
        return await anyio.to_thread.run_sync(self._decrypt_and_accept, request, body, limiter=self._acks)

    def _decrypt_and_accept(self, request: Request, body: bytes) -> PlainTextResponse:
        q = request.query_params
        try:
            message = self.crypto.decrypt(body, q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", ""))
        except CallbackRejected as exc:
            logger.warning("WeCom callback refused from %s: %s", request.client.host if request.client else "?", exc)
            return PlainTextResponse("forbidden", status_code=403)
        self.accept(message)
        return PlainTextResponse("success")

    def accept(self, message: dict[str, str]) -> int | None:
        """Queue a decrypted message once; returns the job id, or None for a retry or an event."""
        kind = message.get("MsgType", "")
        msg_id = message.get("MsgId")
        if kind == "event" or not msg_id:
            return None  # enter_agent and other events need no answer
        payload = {
            "msg_id": msg_id,
            "from": message.get("FromUserName", ""),
            "type": kind,
            "content": message.get("Content", ""),
            "media_id": message.get("MediaId"),
            "format": message.get("Format"),
            "title": message.get("Title") or message.get("FileName"),
            # If the job fails, the core tells the user why through this channel.
            "notify": {
                "platform": self.platform,
                "conversation_key": message.get("FromUserName", ""),
                "user_external_id": message.get("FromUserName", ""),
                "language": detect_language(message.get("Content", ""), "zh"),
            },
        }
        # The MsgId is the job's unique key: a retry (also after a restart, or on another replica
        # sharing the database) finds the job already there, in the same single write.
        job_id, created = self.app.jobs.enqueue(JOB_KIND, payload, dedupe_key=f"wecom:{msg_id}")
        if not created:
            logger.info("WeCom retry of MsgId %s ignored", msg_id)
            return None
        return job_id

    # --- the job: the slow part ------------------------------------------------------------------
    def run_job(self, ctx: JobContext) -> dict[str, Any]:
        payload = ctx.payload
        user = payload["from"]
        attachments: tuple[Attachment, ...] = ()
        if payload.get("media_id"):
            attachments = (self._download(payload),)
        message = InboundMessage(
            platform=self.platform,
            event_id=payload["msg_id"],
            user_external_id=user,
            conversation_key=user,  # an app chat is one thread per user: it is the memory
            text=payload.get("content") or "",
            attachments=attachments,
        )
        reply = self.app.copilot.handle(message)
        self.deliver(user, reply, user_external_id=user)
        return {"kind": reply.kind, "job_id": reply.job_id}

    def _download(self, payload: dict[str, Any]) -> Attachment:
        kind = payload["type"]
        if kind == "file" and payload.get("title"):
            name = Path(payload["title"]).name
        else:
            suffix = "." + payload["format"].lower() if payload.get("format") else _MEDIA_SUFFIX.get(kind, ".bin")
            name = f"{kind}-{payload['msg_id']}{suffix}"
        target = self.app.settings.upload_dir / "wecom" / payload["msg_id"] / name
        self.api.download_media(payload["media_id"], target)
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
