"""The WeCom adapter over real HTTP: our callback server under uvicorn on 127.0.0.1, and a
local mock of WeCom's API (gettoken, message/send, media/get) recording what the bot sends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import uvicorn
import xmltodict

from bot.app import App
from bot.core.channel import Reply
from bot.core.identity import Identity
from bot.core.models import Job
from bot.core.ports import AnswerRequest, IngestOutcome, TokenCallback
from bot.core.settings import Settings
from bot.demo.org import build_org
from bot.infra.jobs import Worker
from integrations.wecom import CALLBACK_PATH, CallbackCrypto, WeComAdapter
from tests.conftest import DEMO_DAY, SAMPLE_CALLS
from tests.integration.conftest import serve_on_loopback

TOKEN, AES_KEY, CORP_ID = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7"


@dataclass
class MockWeCom:
    """WeCom's server API, locally: it records sent messages and can expire the token once."""

    sent: list[dict] = field(default_factory=list)
    tokens_issued: int = 0
    expire_next_send: bool = False
    media: dict[str, bytes] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None
    url: str = ""  # the API base URL, once started

    def start(self) -> str:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, data: dict) -> None:
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path.endswith("/gettoken"):
                    assert query["corpid"] == CORP_ID and query["corpsecret"] == "app-secret"
                    mock.tokens_issued += 1
                    self._json({"errcode": 0, "access_token": f"TOKEN-{mock.tokens_issued}", "expires_in": 7200})
                elif url.path.endswith("/media/get"):
                    data = mock.media.get(query["media_id"])
                    if data is None:
                        self._json({"errcode": 40007, "errmsg": "invalid media_id"})
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/amr")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def do_POST(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if mock.expire_next_send:
                    mock.expire_next_send = False
                    self._json({"errcode": 42001, "errmsg": "access_token expired"})
                    return
                mock.sent.append({"token": query["access_token"], **body})
                self._json({"errcode": 0, "errmsg": "ok"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/"
        return self.url

    def texts(self) -> list[str]:
        return [m.get("markdown", m.get("text", {})).get("content", "") for m in self.sent]

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.sent) >= count, self.sent


class GatedAnswerer:
    """Answers only when the test opens the gate: a slow LLM whose timing the test controls."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.asked: list[AnswerRequest] = []

    def answer(self, request: AnswerRequest, on_token: TokenCallback | None = None) -> Reply:
        self.asked.append(request)
        assert self.gate.wait(60)
        return Reply(text=f"Answer for {request.identity.handle}: " + "预算先问清楚。" * 400, language=request.language)


class RecordingCalls:
    """The call service's intake, recording what the copilot submits."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, str, bytes, str]] = []

    def submit(
        self, identity: Identity, path: Path, *, filename: str, source: str, notify: dict[str, str] | None = None
    ) -> tuple[int, int]:
        self.submitted.append((identity.handle, filename, path.read_bytes()[:6], source))
        return 1, 77


class RefusingKnowledge:
    """No WeCom test adds a document: the knowledge intake must not be reached."""

    def add_file(self, identity: Identity, path: Path, **metadata: object) -> IngestOutcome:
        raise AssertionError(f"unexpected knowledge upload {path.name}")


@dataclass
class Bot:
    app: App
    adapter: WeComAdapter
    answerer: GatedAnswerer
    calls: RecordingCalls | None  # None: the real call service analyses the audio
    url: str
    worker: Worker
    server: uvicorn.Server

    def stop(self) -> None:
        self.worker.stop()
        self.server.should_exit = True
        self.app.close()


def start_bot(data_dir: Path, api_url: str, *, build: bool, real_calls: bool = False) -> Bot:
    """The WeCom adapter built as `copilot serve wecom` builds it, on an app whose answerer (and,
    unless `real_calls`, call intake) are the fakes above."""
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        llm_provider="none",
        wecom_corp_id=CORP_ID,
        wecom_agent_id=1000002,
        wecom_secret="app-secret",
        wecom_token=TOKEN,
        wecom_encoding_aes_key=AES_KEY,
        wecom_api_url=api_url,
    )
    answerer = GatedAnswerer()
    calls = None if real_calls else RecordingCalls()
    app = App(settings, answerer=answerer, calls=calls, knowledge=RefusingKnowledge())
    if build:
        with app.db.session() as session:
            build_org(session, settings.demo_seed, DEMO_DAY)
    adapter = WeComAdapter(app.settings, app.jobs, app.copilot)
    worker = Worker(app.jobs, poll_s=0.05).start()
    base, server = serve_on_loopback(adapter.asgi())
    return Bot(app, adapter, answerer, calls, f"{base}{CALLBACK_PATH}", worker, server)


@pytest.fixture
def wecom() -> Iterator[MockWeCom]:
    mock = MockWeCom()
    mock.start()
    yield mock
    assert mock.server is not None
    mock.server.shutdown()


@pytest.fixture
def bot(tmp_path, wecom) -> Iterator[Bot]:
    running = start_bot(tmp_path / "data", wecom.url, build=True)
    yield running
    running.stop()


def queued_messages(bot: Bot) -> int:
    with bot.app.db.session() as session:
        return session.query(Job).filter(Job.kind == "wecom_message").count()


def post(bot: Bot, fields: dict[str, str], *, timestamp: int | None = None, tamper: bool = False) -> httpx.Response:
    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
    ts = str(timestamp or int(time.time()))
    plain = xmltodict.unparse({"xml": {"ToUserName": CORP_ID, "AgentID": "1000002", "CreateTime": ts, **fields}})
    envelope = crypto.encrypt(plain, "4242", ts)
    signature = xmltodict.parse(envelope)["xml"]["MsgSignature"]
    if tamper:
        signature = "f" * 40
    return httpx.post(
        bot.url, params={"msg_signature": signature, "timestamp": ts, "nonce": "4242"}, content=envelope, timeout=10
    )


def text(user: str, content: str, msg_id: str) -> dict[str, str]:
    return {"FromUserName": user, "MsgType": "text", "Content": content, "MsgId": msg_id}


def test_url_verification_uses_the_official_sample(bot, monkeypatch) -> None:
    monkeypatch.setattr("integrations.wecom._crypto.time.time", lambda: 1409659589.0)
    response = httpx.get(
        bot.url,
        params={
            "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
            "timestamp": "1409659589",
            "nonce": "263014780",
            "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
        },
    )
    assert response.status_code == 200 and response.text == "1616140317555161061"
    forged = httpx.get(
        bot.url, params={"msg_signature": "0" * 40, "timestamp": "1409659589", "nonce": "263014780", "echostr": "x"}
    )
    assert forged.status_code == 403


def test_reply_at_once_answer_later_and_split_under_2048_bytes(bot, wecom) -> None:
    bot.answerer.gate.clear()  # the "LLM" is slow: the callback must not wait for it
    started = time.monotonic()
    response = post(bot, text("LiWei", "九章数据的弱点是什么？", "1001"))
    assert response.status_code == 200 and response.text == "success"
    assert time.monotonic() - started < 2.0
    assert wecom.sent == []
    bot.answerer.gate.set()  # the answer arrives long after the callback returned
    wecom.wait_for(2)
    assert all(m["touser"] == "LiWei" and m["agentid"] == 1000002 for m in wecom.sent)
    assert all(len(t.encode()) <= 2048 for t in wecom.texts())
    assert "".join(wecom.texts()).startswith("Answer for li.wei:")
    assert bot.answerer.asked[0].language == "zh"


def test_a_retried_msgid_is_answered_once_also_after_a_restart(tmp_path, wecom) -> None:
    api = wecom.url
    first = start_bot(tmp_path / "data", api, build=True)
    try:
        for _ in range(3):
            assert post(first, text("LiWei", "hello", "2002")).text == "success"
        wecom.wait_for(1)
    finally:
        first.stop()
    sent = len(wecom.sent)
    second = start_bot(tmp_path / "data", api, build=False)  # a restart on the same database
    try:
        assert post(second, text("LiWei", "hello", "2002")).text == "success"
        # "success" comes after the write: a retry that had queued a second job would show here.
        assert queued_messages(second) == 1
    finally:
        second.stop()
    assert len(wecom.sent) == sent and len(first.answerer.asked) + len(second.answerer.asked) == 1


def test_forged_stale_and_foreign_callbacks_get_403(bot, wecom) -> None:
    assert post(bot, text("LiWei", "hi", "3001"), tamper=True).status_code == 403
    assert post(bot, text("LiWei", "hi", "3002"), timestamp=int(time.time()) - 3600).status_code == 403
    garbage = httpx.post(
        bot.url,
        params={"msg_signature": "a" * 40, "timestamp": str(int(time.time())), "nonce": "1"},
        content=b"<xml>junk</xml>",
    )
    assert garbage.status_code == 403
    # Refused before anything was queued, so nothing will be answered.
    assert queued_messages(bot) == 0
    assert wecom.sent == [] and bot.answerer.asked == []


def test_an_expired_token_is_refreshed_and_the_message_still_sent(bot, wecom) -> None:
    wecom.expire_next_send = True
    post(bot, text("LiWei", "hi", "4001"))
    wecom.wait_for(1)
    assert wecom.tokens_issued == 2 and wecom.sent[0]["token"] == "TOKEN-2"


def test_unknown_users_get_public_knowledge_and_the_access_hint(bot, wecom) -> None:
    post(bot, text("Stranger", "What is Lumina Insight?", "5001"))
    deadline = time.monotonic() + 30
    while "sales-ops admin" not in "".join(wecom.texts()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bot.answerer.asked[0].identity.role is None
    assert "sales-ops admin" in "".join(wecom.texts())


def test_images_get_a_polite_not_supported(bot, wecom) -> None:
    wecom.media["IMG1"] = b"\x89PNG fake"
    post(
        bot,
        {"FromUserName": "LiWei", "MsgType": "image", "PicUrl": "http://x/p.png", "MediaId": "IMG1", "MsgId": "6001"},
    )
    wecom.wait_for(1)
    assert "暂不支持图片" in wecom.texts()[0]


def test_a_voice_message_becomes_one_call_analysis_job(bot, wecom) -> None:
    wecom.media["VOICE1"] = b"#!AMR\n" + b"\x00" * 100
    for _ in range(2):  # WeCom retries: still one job
        post(bot, {"FromUserName": "LiWei", "MsgType": "voice", "MediaId": "VOICE1", "Format": "amr", "MsgId": "7001"})
    wecom.wait_for(1)
    assert bot.calls is not None
    assert bot.calls.submitted == [("li.wei", "voice-7001.amr", b"#!AMR\n", "wecom")]
    assert "#77" in wecom.texts()[0]


def test_real_amr_voice_is_analysed_and_the_result_sent_back(tmp_path, wecom) -> None:
    import av
    import numpy as np

    # A phone voice note: 25 s of a sample call, mono AMR-NB at 8 kHz, as WeCom delivers voice.
    amr = tmp_path / "v.amr"
    with (
        av.open(str(SAMPLE_CALLS / "a4_zh_auto_parts_maintenance.flac")) as source,
        av.open(str(amr), "w", format="amr") as target,
    ):
        stream = target.add_stream("libopencore_amrnb", rate=8000, layout="mono")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
        for frame in source.decode(audio=0):
            if frame.time > 25:
                break
            for resampled in resampler.resample(frame):
                louder = (resampled.to_ndarray().astype(np.int32) * 4).clip(-32767, 32767).astype(np.int16)
                boosted = av.AudioFrame.from_ndarray(louder, format="s16", layout="mono")
                boosted.sample_rate = 8000
                for packet in stream.encode(boosted):
                    target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    wecom.media["VOICE2"] = amr.read_bytes()
    bot = start_bot(tmp_path / "data", wecom.url, build=True, real_calls=True)
    try:
        post(bot, {"FromUserName": "LiWei", "MsgType": "voice", "MediaId": "VOICE2", "Format": "amr", "MsgId": "8001"})
        wecom.wait_for(2, timeout=120)  # "accepted", then the analysis
    finally:
        bot.stop()
    assert "任务" in wecom.texts()[0]
    assert "分析完成" in "".join(wecom.texts()[1:]) or "单声道" in "".join(wecom.texts()[1:])
