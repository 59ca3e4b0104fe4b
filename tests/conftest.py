"""Shared fixtures. Tiers: tests/unit (fast, no network, no models), tests/integration (real
local parts: SQLite, Chroma, packaged models, local HTTP servers). Tests that need an outside
service are marked `external` and skip unless its environment variable is set."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bot.app import App
from bot.core.identity import Identity, resolve_user
from bot.core.settings import Settings
from bot.demo.org import build_org

DEMO_DAY = date(2026, 11, 23)
SAMPLE_CALLS = Path(__file__).resolve().parents[1] / "bot" / "demo" / "calls"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection off this machine fails the test: nothing may reach the internet."""
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address, *args, **kwargs):
        if isinstance(address, tuple) and sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise OSError(f"test tried to reach {host}: tests must not use the network")
        return real_connect(sock, address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", llm_provider="none", cpu_threads=2)


@pytest.fixture
def app(settings: Settings) -> Iterator[App]:
    application = App(settings)
    yield application
    application.close()


@pytest.fixture
def org_app(app: App) -> App:
    """An app holding the deterministic demo org (no documents, no calls)."""
    with app.db.session() as session:
        build_org(session, app.settings.demo_seed, DEMO_DAY)
    return app


@pytest.fixture
def identity_of(org_app: App):
    def lookup(handle: str) -> Identity:
        with org_app.db.session() as session:
            return Identity.from_user(resolve_user(session, handle))

    return lookup
