"""Integration fixtures: real SQLite, Chroma and packaged models, built once per session."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from bot.app import App
from bot.core.identity import Identity, resolve_user
from bot.core.settings import Settings
from bot.demo.build import ensure_demo
from tests.conftest import DEMO_DAY


@pytest.fixture(scope="session")
def demo_kb_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The demo org with its knowledge base and customer histories (no calls). Read-only."""
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("demo-kb"), llm_provider="none")
    app = App(settings)
    ensure_demo(app, today=DEMO_DAY, with_calls=False)
    yield app
    app.close()


@pytest.fixture(scope="session")
def who(demo_kb_app: App):
    def lookup(handle: str) -> Identity:
        with demo_kb_app.db.session() as session:
            return Identity.from_user(resolve_user(session, handle))

    return lookup


def serve_on_loopback(asgi_app) -> tuple[str, uvicorn.Server]:
    """Run an ASGI app under uvicorn on a free 127.0.0.1 port; returns (base URL, server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(asgi_app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server
