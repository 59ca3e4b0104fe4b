"""WeCom (企业微信) self-built app: verified encrypted callbacks, active replies, voice and files."""

from integrations.wecom._adapter import CALLBACK_PATH, JOB_KIND, WeComAdapter
from integrations.wecom._api import WeComAPI
from integrations.wecom._crypto import CallbackCrypto, CallbackRejected
from integrations.wecom._render import render, split_message

__all__ = [
    "CALLBACK_PATH",
    "JOB_KIND",
    "CallbackCrypto",
    "CallbackRejected",
    "WeComAPI",
    "WeComAdapter",
    "render",
    "split_message",
]
