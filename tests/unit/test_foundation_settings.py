from pathlib import Path

import pytest

from bot.core.settings import Settings
from bot.core.text import detect_language


def test_platform_settings_use_their_standard_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-123")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "shh")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@db/copilot")
    monkeypatch.setenv("WECOM_CORP_ID", "ww123")
    monkeypatch.setenv("COPILOT_DATA_DIR", "/srv/copilot")
    settings = Settings(_env_file=None)
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-123"
    assert settings.resolved_database_url == "postgresql+psycopg://u:p@db/copilot"
    assert settings.wecom_corp_id == "ww123"
    assert settings.data_dir == Path("/srv/copilot")


def test_secrets_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    settings = Settings(_env_file=None)
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings.model_dump())


def test_default_database_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'copilot.db').resolve()}"
    assert settings.chroma_dir == tmp_path / "chroma"
    assert settings.model_cache_dir == tmp_path / "models"


def test_settings_read_a_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("COPILOT_LLM_PROVIDER=none\nSLACK_API_URL=http://127.0.0.1:9999/api/\n")
    settings = Settings(_env_file=env)
    assert settings.llm_provider == "none"
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("How do I handle a price objection?", "en"),
        ("九章数据的弱点是什么？", "zh"),
        ("Lumina Insight 的价格是多少", "zh"),
        ("Northwind Analytics 和我们相比有什么优势？", "zh"),
        ("What does 等保三级 require?", "en"),
        ("", "en"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language
