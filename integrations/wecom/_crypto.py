"""Verify and decrypt WeCom callbacks: WeCom's AES scheme through wechatpy (pinned), plus our
own constant-time signature compare, a timestamp window against replays, and the corp id check."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

__all__ = ["CallbackCrypto", "CallbackRejected"]


class CallbackRejected(Exception):
    """A forged, stale or foreign callback: answered with 403 and logged, never processed."""


def _signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


@dataclass
class CallbackCrypto:
    token: str
    encoding_aes_key: str
    corp_id: str
    window_s: int = 300

    def __post_init__(self) -> None:
        self._crypto = WeChatCrypto(self.token, self.encoding_aes_key, self.corp_id)

    def _check(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str, now: float | None) -> None:
        try:
            age = abs((now if now is not None else time.time()) - int(timestamp))
        except ValueError:
            raise CallbackRejected("malformed timestamp") from None
        if age > self.window_s:
            raise CallbackRejected(f"timestamp outside the {self.window_s}s window")
        expected = _signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected, msg_signature or ""):
            raise CallbackRejected("bad signature")

    def verify_url(
        self, msg_signature: str, timestamp: str, nonce: str, echostr: str, *, now: float | None = None
    ) -> str:
        """The plaintext echostr WeCom expects back when it verifies the callback URL."""
        self._check(msg_signature, timestamp, nonce, echostr, now)
        try:
            return self._crypto.check_signature(msg_signature, timestamp, nonce, echostr)
        except Exception as exc:  # wrong corp id or undecryptable: not from our WeCom app
            raise CallbackRejected(f"echostr rejected: {type(exc).__name__}") from exc

    def decrypt(
        self, body: bytes | str, msg_signature: str, timestamp: str, nonce: str, *, now: float | None = None
    ) -> dict[str, str]:
        """The decrypted message as a flat dict of its XML fields."""
        try:
            envelope = xmltodict.parse(body)["xml"]
            encrypted = envelope["Encrypt"]
        except Exception as exc:
            raise CallbackRejected("malformed envelope") from exc
        self._check(msg_signature, timestamp, nonce, encrypted, now)
        try:
            plain = self._crypto.decrypt_message(body, msg_signature, timestamp, nonce)
        except InvalidSignatureException as exc:
            raise CallbackRejected("bad signature") from exc
        except Exception as exc:  # InvalidCorpIdException, padding errors: not for us
            raise CallbackRejected(f"decryption rejected: {type(exc).__name__}") from exc
        fields = xmltodict.parse(plain)["xml"]
        return {k: (v if isinstance(v, str) else str(v)) for k, v in fields.items() if v is not None}

    def encrypt(self, plain_xml: str, nonce: str, timestamp: str) -> str:
        """An encrypted envelope, as WeCom would send it (used by tests and benchmarks)."""
        return self._crypto.encrypt_message(plain_xml, nonce, timestamp)
