"""WeCom's server API: access token (cached, refreshed on expiry errors), active messages,
media download. The base URL is a setting, so tests and proxies can point it elsewhere."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bot.core.errors import ConfigurationError, ServiceUnavailable
from bot.core.settings import Settings

__all__ = ["WeComAPI"]

logger = logging.getLogger(__name__)

TOKEN_EXPIRED = frozenset({40014, 42001, 41001})  # invalid, expired, missing access_token


class WeComAPI:
    def __init__(self, settings: Settings, http: httpx.Client | None = None) -> None:
        if not (settings.wecom_corp_id and settings.wecom_secret and settings.wecom_agent_id):
            raise ConfigurationError("WeCom needs WECOM_CORP_ID, WECOM_SECRET and WECOM_AGENT_ID.")
        self.corp_id = settings.wecom_corp_id
        self.secret = settings.wecom_secret.get_secret_value()
        self.agent_id = settings.wecom_agent_id
        self.base = settings.wecom_api_url.rstrip("/") + "/"
        self.http = http or httpx.Client(timeout=30.0)
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    def access_token(self, *, refresh: bool = False) -> str:
        with self._lock:
            if refresh or self._token is None or time.monotonic() >= self._token_expires:
                data = self._json(
                    self.http.get(self.base + "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret})
                )
                if data.get("errcode", 0) != 0:
                    raise ServiceUnavailable(
                        "WeCom refused the app credentials.", detail=f"gettoken errcode {data.get('errcode')}"
                    )
                self._token = data["access_token"]
                # Refresh a little early so a request never carries a token that expires in flight.
                self._token_expires = time.monotonic() + max(int(data.get("expires_in", 7200)) - 300, 60)
            return self._token

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 500:
            raise ServiceUnavailable("WeCom is not answering right now.", detail=f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceUnavailable("WeCom sent an unreadable answer.") from exc

    def _call(self, method: str, path: str, *, params: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """One API call; on a token-expiry error, refresh the token once and retry."""
        query = {**(params or {}), "access_token": self.access_token()}
        response = self.http.request(method, self.base + path, params=query, **kwargs)
        if _is_json(response) and self._json(response).get("errcode", 0) in TOKEN_EXPIRED:
            logger.info("WeCom token expired (errcode %s): refreshing", self._json(response).get("errcode"))
            query["access_token"] = self.access_token(refresh=True)
            response = self.http.request(method, self.base + path, params=query, **kwargs)
        return response

    def send_markdown(self, to_user: str, content: str) -> None:
        self._send(to_user, {"msgtype": "markdown", "markdown": {"content": content}})

    def send_text(self, to_user: str, content: str) -> None:
        self._send(to_user, {"msgtype": "text", "text": {"content": content}})

    def _send(self, to_user: str, body: dict[str, Any]) -> None:
        data = self._json(
            self._call("POST", "message/send", json={"touser": to_user, "agentid": self.agent_id, **body})
        )
        if data.get("errcode", 0) != 0:
            raise ServiceUnavailable(
                "WeCom did not accept the message.",
                detail=f"message/send errcode {data.get('errcode')}: {data.get('errmsg')}",
            )

    def download_media(self, media_id: str, target: Path) -> Path:
        response = self._call("GET", "media/get", params={"media_id": media_id})
        if _is_json(response):
            data = self._json(response)
            raise ServiceUnavailable(
                "The file could not be fetched from WeCom; please send it again.",
                detail=f"media/get errcode {data.get('errcode')}",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(response.content)
        return target


def _is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith(("application/json", "text/plain"))
