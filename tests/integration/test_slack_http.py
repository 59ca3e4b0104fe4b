"""The Slack adapter over real HTTP: Bolt behind uvicorn on 127.0.0.1 receiving signed requests,
and a local mock of Slack's Web API (SLACK_API_URL) recording what the bot does."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from bot.app import App
from bot.core.channel import Citation, Reply, ReplyImage, ReplyTable
from bot.core.identity import Identity
from bot.core.models import Feedback, Job
from bot.core.ports import AnswerRequest, IngestOutcome, TokenCallback
from bot.core.settings import Settings
from bot.demo.org import build_org
from bot.infra.jobs import Worker
from integrations.slack import SlackAdapter
from tests.conftest import DEMO_DAY
from tests.integration.conftest import serve_on_loopback

SECRET = "test-signing-secret"


@dataclass
class MockSlack:
    calls: list[tuple[str, dict]] = field(default_factory=list)
    emails: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None
    base: str = ""

    def start(self) -> str:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, data: dict | bytes, content_type: str = "application/json") -> None:
                body = data if isinstance(data, bytes) else json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                name = urlparse(self.path).path.rsplit("/", 1)[-1]
                assert self.headers["Authorization"] == "Bearer xoxb-test"
                self._send(mock.files[name], "application/octet-stream")

            def do_POST(self) -> None:
                path = urlparse(self.path).path
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if path.startswith("/upload/"):
                    mock.calls.append(("upload", {"bytes": len(raw)}))
                    self._send(b"OK", "text/plain")
                    return
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    args = json.loads(raw or b"{}")
                else:
                    args = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                method = path.rsplit("/", 1)[-1]
                mock.calls.append((method, args))
                if method == "auth.test":
                    self._send(
                        {
                            "ok": True,
                            "user_id": "UBOT",
                            "bot_id": "BBOT",
                            "team_id": "T1",
                            "user": "copilot",
                            "team": "Lumina",
                        }
                    )
                elif method == "users.info":
                    email = mock.emails.get(args["user"])
                    self._send({"ok": True, "user": {"id": args["user"], "profile": {"email": email} if email else {}}})
                elif method == "chat.postMessage":
                    self._send({"ok": True, "channel": args["channel"], "ts": f"{time.time():.6f}"})
                elif method == "files.getUploadURLExternal":
                    self._send({"ok": True, "upload_url": f"{mock.base}upload/F1", "file_id": "F1"})
                elif method == "files.completeUploadExternal":
                    self._send({"ok": True, "files": [{"id": "F1", "title": "chart"}]})
                else:
                    self._send({"ok": True})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/"
        return self.base + "api/"

    def of(self, method: str) -> list[dict]:
        return [args for name, args in self.calls if name == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.of(method)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        found = self.of(method)
        assert len(found) >= count, self.calls
        return found


class ScriptedAnswerer:
    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.asked: list[AnswerRequest] = []
        self.text = "Probe first, then reframe value [1]."

    def answer(self, request: AnswerRequest, on_token: TokenCallback | None = None) -> Reply:
        self.asked.append(request)
        assert self.gate.wait(60)
        return Reply(
            text=self.text,
            citations=[Citation(1, 7, "Price Objection Talk Tracks", "kb/price.md")],
            tables=[ReplyTable(("stage", "amount"), (("proposal", "120,000"),), "Pipeline")],
            language=request.language,
        )


class RecordingCalls:
    """The call service's intake, recording what the copilot submits."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, str, bytes, str, str]] = []

    def submit(
        self, identity: Identity, path: Path, *, filename: str, source: str, notify: dict[str, str] | None = None
    ) -> tuple[int, int]:
        assert notify is not None
        self.submitted.append((identity.handle, filename, path.read_bytes(), source, notify["conversation_key"]))
        return 1, 42


class RecordingKnowledge:
    """The knowledge base's intake, recording the files the copilot adds."""

    def __init__(self) -> None:
        self.added: list[tuple[str, str | None, bytes]] = []

    def add_file(
        self, identity: Identity, path: Path, *, filename: str | None = None, source: str = "cli", **metadata: object
    ) -> IngestOutcome:
        self.added.append((identity.handle, filename, path.read_bytes()))
        return IngestOutcome(doc_id=3, title="Renewal playbook", version=1, chunk_count=1, changed=True)


@dataclass
class Bot:
    app: App
    answerer: ScriptedAnswerer
    calls: RecordingCalls
    knowledge: RecordingKnowledge
    url: str
    worker: Worker
    server: uvicorn.Server

    def stop(self) -> None:
        self.worker.stop()
        self.server.should_exit = True
        self.app.close()


def start_bot(data_dir: Path, api_url: str, *, build: bool) -> Bot:
    """The Slack adapter built as `copilot serve slack` builds it, on an app whose answerer,
    call intake and knowledge intake are the recording fakes above."""
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        llm_provider="none",
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=api_url,
    )
    answerer, calls, knowledge = ScriptedAnswerer(), RecordingCalls(), RecordingKnowledge()
    app = App(settings, answerer=answerer, calls=calls, knowledge=knowledge)
    if build:
        with app.db.session() as session:
            build_org(session, settings.demo_seed, DEMO_DAY)
    adapter = SlackAdapter(app.settings, app.db.session, app.jobs, app.copilot)
    worker = Worker(app.jobs, poll_s=0.05).start()
    base, server = serve_on_loopback(adapter.asgi())
    return Bot(app, answerer, calls, knowledge, f"{base}/slack/events", worker, server)


@pytest.fixture
def slack() -> Iterator[MockSlack]:
    mock = MockSlack()
    yield mock
    if mock.server:
        mock.server.shutdown()


@pytest.fixture
def bot(tmp_path, slack) -> Iterator[Bot]:
    running = start_bot(tmp_path / "data", slack.start(), build=True)
    yield running
    running.stop()


def signed(body: str, *, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(timestamp or int(time.time()))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def send_event(bot: Bot, event: dict, event_id: str, *, retry: int | None = None, **sign) -> httpx.Response:
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T1",
            "api_app_id": "A1",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
    )
    headers = {"Content-Type": "application/json", **signed(body, **sign)}
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return httpx.post(bot.url, content=body, headers=headers, timeout=10)


def queued_events(bot: Bot) -> int:
    with bot.app.db.session() as session:
        return session.query(Job).filter(Job.kind == "slack_event").count()


def mention(user: str, text: str, ts: str = "100.1") -> dict:
    return {"type": "app_mention", "user": user, "text": f"<@UBOT> {text}", "channel": "C1", "ts": ts}


def test_a_mention_is_answered_in_its_thread_with_sources_and_feedback_buttons(bot, slack) -> None:
    response = send_event(bot, mention("U0DEMO010", "How do I handle a price objection?"), "Ev1")
    assert response.status_code == 200
    update = slack.wait_for("chat.update")[0]
    placeholder = slack.of("chat.postMessage")[0]
    assert placeholder["thread_ts"] == "100.1" and placeholder["channel"] == "C1"
    blocks = json.loads(update["blocks"]) if isinstance(update["blocks"], str) else update["blocks"]
    kinds = [b["type"] for b in blocks]
    assert kinds == ["section", "section", "context", "actions"]
    assert "*Sources:*" in blocks[2]["elements"][0]["text"] and "Price Objection" in blocks[2]["elements"][0]["text"]
    assert "```" in blocks[1]["text"]["text"]  # the table, compact
    assert bot.answerer.asked[0].identity.handle == "jason.reed"
    assert bot.answerer.asked[0].text == "How do I handle a price objection?"
    # Work under way is shown with a reaction, removed once the answer is posted.
    assert slack.wait_for("reactions.add")[0]["name"] == "hourglass_flowing_sand"
    assert slack.wait_for("reactions.remove")[0]["timestamp"] == "100.1"


def test_forged_and_expired_signatures_get_401(bot, slack) -> None:
    assert send_event(bot, mention("U0DEMO010", "hi"), "Ev2", secret="wrong").status_code == 401
    assert send_event(bot, mention("U0DEMO010", "hi"), "Ev3", timestamp=int(time.time()) - 600).status_code == 401
    # Refused before any listener ran: nothing was queued, so nothing will be answered.
    assert queued_events(bot) == 0
    assert bot.answerer.asked == [] and not slack.of("chat.postMessage")


def test_a_retried_event_gets_one_answer_also_after_a_restart(tmp_path, slack) -> None:
    api = slack.start()
    first = start_bot(tmp_path / "data", api, build=True)
    try:
        assert send_event(first, mention("U0DEMO010", "pricing?"), "EvR").status_code == 200
        assert send_event(first, mention("U0DEMO010", "pricing?"), "EvR", retry=1).status_code == 200
        slack.wait_for("chat.update")
    finally:
        first.stop()
    second = start_bot(tmp_path / "data", api, build=False)
    try:
        assert send_event(second, mention("U0DEMO010", "pricing?"), "EvR", retry=2).status_code == 200
        # The listener ran before the ack: a retry that had queued a second job would show here.
        assert queued_events(second) == 1
    finally:
        second.stop()
    assert len(first.answerer.asked) + len(second.answerer.asked) == 1
    assert len(slack.of("chat.update")) == 1


def test_the_slash_command_acks_before_any_answering_work(bot, slack) -> None:
    bot.answerer.gate.clear()  # answering is blocked: the ack must not wait for it
    form = urlencode(
        {
            "command": "/copilot",
            "text": "forecast East China this quarter",
            "user_id": "U0DEMO001",
            "channel_id": "C9",
            "trigger_id": "T123",
            "response_url": "http://127.0.0.1/x",
        }
    )
    started = time.monotonic()
    response = httpx.post(
        bot.url, content=form, headers={"Content-Type": "application/x-www-form-urlencoded", **signed(form)}, timeout=10
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and "Working on it" in response.text
    assert elapsed < 2.0 and slack.of("chat.postEphemeral") == []
    bot.answerer.gate.set()
    slack.wait_for("chat.postEphemeral")
    request = bot.answerer.asked[0]
    assert (
        request.command == "forecast"
        and request.text == "East China this quarter"
        and request.identity.handle == "wang.fang"
    )


def test_feedback_clicks_are_stored(bot, slack) -> None:
    send_event(bot, mention("U0DEMO010", "price objection"), "EvF")
    update = slack.wait_for("chat.update")[0]
    blocks = json.loads(update["blocks"]) if isinstance(update["blocks"], str) else update["blocks"]
    button = blocks[-1]["elements"][1]
    payload = json.dumps(
        {
            "type": "block_actions",
            "user": {"id": "U0DEMO010"},
            "team": {"id": "T1"},
            "channel": {"id": "C1"},
            "trigger_id": "T9",
            "actions": [
                {
                    "action_id": button["action_id"],
                    "value": button["value"],
                    "block_id": blocks[-1]["block_id"],
                    "type": "button",
                }
            ],
        }
    )
    form = urlencode({"payload": payload})
    response = httpx.post(
        bot.url, content=form, headers={"Content-Type": "application/x-www-form-urlencoded", **signed(form)}
    )
    assert response.status_code == 200
    with bot.app.db.session() as session:
        stored = session.scalars(select(Feedback)).all()
        assert [(f.rating, f.message_id is not None, f.platform) for f in stored] == [(-1, True, "slack")]


def test_unknown_users_are_told_how_to_get_access(bot, slack) -> None:
    slack.emails["UNEW"] = "stranger@elsewhere.example"
    send_event(
        bot,
        {
            "type": "message",
            "channel_type": "im",
            "user": "UNEW",
            "text": "What is Lumina Insight?",
            "channel": "D1",
            "ts": "5.5",
        },
        "EvU",
    )
    update = slack.wait_for("chat.update")[0]
    assert "sales-ops admin" in update["text"] and bot.answerer.asked[0].identity.role is None
    assert slack.of("users.info")[0]["user"] == "UNEW"


def test_a_user_found_by_email_is_linked(bot, slack) -> None:
    slack.emails["UEMILY"] = "emily.carter@lumina.example"
    send_event(
        bot,
        {"type": "message", "channel_type": "im", "user": "UEMILY", "text": "hello", "channel": "D2", "ts": "6.6"},
        "EvE",
    )
    slack.wait_for("chat.update")
    assert bot.answerer.asked[0].identity.handle == "emily.carter"


def test_an_audio_file_from_a_rep_creates_one_call_job(bot, slack) -> None:
    slack.files["call.m4a"] = b"fake-audio-bytes"
    event = {
        "type": "message",
        "channel_type": "im",
        "subtype": "file_share",
        "user": "U0DEMO010",
        "text": "",
        "channel": "D3",
        "ts": "7.7",
        "files": [
            {
                "id": "F9",
                "name": "call.m4a",
                "mimetype": "audio/mp4",
                "url_private": slack.base + "files/call.m4a",
                "size": 16,
            }
        ],
    }
    send_event(bot, event, "EvA")
    send_event(bot, event, "EvA", retry=1)
    posted = slack.wait_for("chat.postMessage")
    assert bot.calls.submitted == [("jason.reed", "call.m4a", b"fake-audio-bytes", "slack", "D3:7.7")]
    assert "#42" in posted[0]["text"]


def test_long_answers_are_split_within_slack_limits(bot, slack) -> None:
    bot.answerer.text = "\n\n".join(f"Paragraph {i}: " + "value " * 100 for i in range(60))
    send_event(bot, mention("U0DEMO010", "everything"), "EvL")
    slack.wait_for("chat.update")
    deadline = time.monotonic() + 10
    while len(slack.of("chat.postMessage")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    messages = slack.of("chat.update") + slack.of("chat.postMessage")[1:]
    for message in messages:
        blocks = json.loads(message["blocks"]) if isinstance(message["blocks"], str) else message["blocks"]
        assert len(blocks) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert len(messages) >= 2


def _document_event(user: str, ts: str, slack: MockSlack) -> dict:
    slack.files["playbook.md"] = b"# Renewal playbook\n\nCall the champion 90 days before renewal."
    return {
        "type": "message",
        "channel_type": "im",
        "subtype": "file_share",
        "user": user,
        "text": "",
        "channel": "D4",
        "ts": ts,
        "files": [
            {
                "id": "F8",
                "name": "playbook.md",
                "mimetype": "text/markdown",
                "url_private": slack.base + "files/playbook.md",
                "size": 60,
            }
        ],
    }


def test_a_document_from_a_trainer_is_added_and_from_a_rep_refused(bot, slack) -> None:
    send_event(bot, _document_event("U0DEMO013", "8.8", slack), "EvD1")  # zhao.lin, trainer
    send_event(bot, _document_event("U0DEMO010", "9.9", slack), "EvD2")  # jason.reed, rep
    posted = slack.wait_for("chat.postMessage", 2)
    assert bot.knowledge.added == [("zhao.lin", "playbook.md", slack.files["playbook.md"])]
    texts = " ".join(p["text"] for p in posted)
    assert "Renewal playbook" in texts and "Only trainers and admins" in texts


def test_a_finished_call_job_is_delivered_in_its_thread_with_its_chart(bot, slack, tmp_path) -> None:
    chart = tmp_path / "chart.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    bot.app.copilot.channels["slack"].deliver(
        "C5:123.4",
        Reply(text="Two gaps found **budget**", images=[ReplyImage(chart, "Gaps")]),
        user_external_id="U0DEMO010",
    )
    message = slack.wait_for("chat.postMessage")[0]
    assert message["channel"] == "C5" and message["thread_ts"] == "123.4" and "*budget*" in message["text"]
    slack.wait_for("files.completeUploadExternal")
    assert slack.of("upload")[0]["bytes"] == chart.stat().st_size


def test_the_bots_own_messages_and_edits_are_ignored(bot, slack) -> None:
    send_event(
        bot,
        {
            "type": "message",
            "channel_type": "im",
            "user": "UBOT",
            "bot_id": "BBOT",
            "text": "hi",
            "channel": "D6",
            "ts": "1.1",
        },
        "EvB1",
    )
    send_event(
        bot,
        {
            "type": "message",
            "channel_type": "im",
            "subtype": "message_changed",
            "channel": "D6",
            "ts": "1.2",
            "message": {"user": "U0DEMO010", "text": "edited"},
        },
        "EvB2",
    )
    # Both were acked after their listener ran: neither was queued, so neither will be answered.
    assert queued_events(bot) == 0
    assert bot.answerer.asked == [] and not slack.of("chat.postMessage")
