"""Integration fixtures: real SQLite, Chroma and packaged models, built once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.app import App
from bot.demo.build import ensure_demo
from bot.identity import Identity, resolve_user
from bot.settings import Settings
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
def who(demo_kb_app: App):  # noqa: ANN201
    def lookup(handle: str) -> Identity:
        with demo_kb_app.db.session() as session:
            return Identity.from_user(resolve_user(session, handle))

    return lookup
