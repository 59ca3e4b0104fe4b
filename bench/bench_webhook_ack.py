"""Webhook ack latency (Slack events, WeCom callbacks): p50/p99 for a burst of 200 signed
requests while the local LLM is busy.

Starts the real adapter (Bolt for Slack; the WeCom callback with its AES envelope) behind
uvicorn on 127.0.0.1, a stand-in platform Web API, and the packaged local LLM generating
continuously in a niced background thread, as a job worker does in `copilot serve` (the CPU is
as busy as while an answer is being written). Requests are signed (and for WeCom encrypted) as
the platforms do, and sent from a separate process, as from the platform's servers: a load
generator sharing this interpreter's GIL would add its own time to every measured ack. Run:
    .venv/bin/python bench/bench_webhook_ack.py [--platform slack wecom] [--events 200] [--concurrency 20] [--no-llm]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import uvicorn
import xmltodict

from bot.app import App
from bot.core.settings import Settings
from bot.demo.org import build_org
from integrations.slack import EVENTS_PATH, SlackAdapter
from integrations.wecom import CALLBACK_PATH, CallbackCrypto, WeComAdapter

SLACK_SECRET = "bench-secret"
# WeCom's documented sample credentials (any 43-character key works the same).
WECOM_TOKEN, WECOM_AES_KEY, WECOM_CORP_ID = (
    "QDG6eK",
    "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "wx5823bf96d3bd56c7",
)


class OkApi(BaseHTTPRequestHandler):
    """Answers every Web API call with success (the bench measures acks, not replies)."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._ok()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._ok()

    def _ok(self) -> None:
        body = json.dumps(
            {
                "ok": True,
                "errcode": 0,
                "access_token": "t",
                "expires_in": 7200,
                "user_id": "UBOT",
                "bot_id": "BBOT",
                "team_id": "T1",
                "ts": "1.1",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def keep_llm_busy(settings: Settings, stop: threading.Event) -> None:
    from integrations.llm import LocalLLM

    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), settings.job_worker_nice)
    llm = LocalLLM(settings)
    while not stop.is_set():
        for _token in llm.stream(
            [{"role": "user", "content": "Write a long essay about B2B sales discovery."}],
            max_tokens=200,
            slot="answer-en",
        ):
            if stop.is_set():
                return


def slack_request(i: int) -> tuple[str, dict[str, str], dict[str, str], str]:
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T1",
            "event_id": f"EvBench{i}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": "U0DEMO010",
                "text": "<@UBOT> pricing?",
                "channel": "C1",
                "ts": f"{i}.1",
            },
        }
    )
    ts = str(int(time.time()))
    signature = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
    return EVENTS_PATH, {}, headers, body


def wecom_request(i: int) -> tuple[str, dict[str, str], dict[str, str], str]:
    ts, nonce = str(int(time.time())), str(1000 + i)
    plain = xmltodict.unparse(
        {
            "xml": {
                "ToUserName": WECOM_CORP_ID,
                "AgentID": "1000002",
                "CreateTime": ts,
                "FromUserName": "JasonReed",
                "MsgType": "text",
                "Content": "How do I answer a price objection?",
                "MsgId": str(7_000_000 + i),
            }
        }
    )
    envelope = CallbackCrypto(WECOM_TOKEN, WECOM_AES_KEY, WECOM_CORP_ID).encrypt(plain, nonce, ts)
    params = {"msg_signature": xmltodict.parse(envelope)["xml"]["MsgSignature"], "timestamp": ts, "nonce": nonce}
    return CALLBACK_PATH, params, {"Content-Type": "text/xml"}, envelope


def send_burst(platform: str, base: str, events: int, concurrency: int) -> list[float]:
    """Post `events` signed requests, `concurrency` at a time: each one's ack latency in ms."""
    build = slack_request if platform == "slack" else wecom_request
    requests = [build(i) for i in range(-1, events)]  # signed (and encrypted) before the clock starts
    client = httpx.Client(base_url=base, timeout=30, limits=httpx.Limits(max_connections=concurrency))

    def one(request: tuple[str, dict[str, str], dict[str, str], str]) -> float:
        path, params, headers, body = request
        started = time.perf_counter()
        response = client.post(path, params=params, headers=headers, content=body)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.text
        return elapsed

    one(requests[0])  # warm-up: connection and the server's first request
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, requests[1:]))


def adapter_for(platform: str, app: App) -> SlackAdapter | WeComAdapter:
    """The platform's adapter, built as `copilot serve` builds it."""
    if platform == "slack":
        return SlackAdapter(app.settings, app.db.session, app.jobs, app.copilot)
    return WeComAdapter(app.settings, app.jobs, app.copilot)


def bench(platform: str, events: int, concurrency: int, llm: bool) -> None:
    api = ThreadingHTTPServer(("127.0.0.1", 0), OkApi)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    api_url = f"http://127.0.0.1:{api.server_address[1]}"
    settings = Settings(
        _env_file=None,
        data_dir=Path(tempfile.mkdtemp(prefix=f"bench-{platform}-")),
        llm_provider="local",
        slack_bot_token="xoxb-bench",
        slack_signing_secret=SLACK_SECRET,
        slack_api_url=f"{api_url}/api/",
        wecom_corp_id=WECOM_CORP_ID,
        wecom_agent_id=1000002,
        wecom_secret="bench",
        wecom_token=WECOM_TOKEN,
        wecom_encoding_aes_key=WECOM_AES_KEY,
        wecom_api_url=api_url,
    )
    app = App(settings)
    with app.db.session() as session:
        build_org(session, settings.demo_seed, date.today())
    adapter = adapter_for(platform, app)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(adapter.asgi(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)

    stop = threading.Event()
    busy = threading.Thread(target=keep_llm_busy, args=(settings, stop))
    if llm:
        busy.start()
        time.sleep(8)  # model loaded and generating
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as sender:
        latencies = sorted(
            sender.submit(send_burst, platform, f"http://127.0.0.1:{port}", events, concurrency).result()
        )
    stop.set()
    if busy.is_alive():
        busy.join()
    server.should_exit = True
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    with app.db.engine.connect() as connection:
        queued = connection.exec_driver_sql("select count(*) from jobs").scalar()
    print(f"{platform} ack latency over {events} signed requests ({concurrency} concurrent, LLM busy: {llm}):")
    print(f"  p50 {p50:.1f} ms   p99 {p99:.1f} ms   max {latencies[-1]:.1f} ms   jobs queued {queued}")
    app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", nargs="+", choices=["slack", "wecom"], default=["slack", "wecom"])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--no-llm", action="store_true")
    args = parser.parse_args()
    for platform in args.platform:
        bench(platform, args.events, args.concurrency, llm=not args.no_llm)


if __name__ == "__main__":
    main()
