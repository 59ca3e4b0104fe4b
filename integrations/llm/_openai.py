"""Any OpenAI-compatible chat endpoint (OpenAI, DeepSeek, Qwen/DashScope, vLLM, Ollama)."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from bot.core.errors import ConfigurationError
from bot.core.settings import Settings

__all__ = ["openai_chat_model"]


def openai_chat_model(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    if not settings.llm_model:
        raise ConfigurationError("Set COPILOT_LLM_MODEL to the endpoint's model name (e.g. deepseek-chat).")
    if settings.openai_api_key is None and not settings.openai_base_url:
        raise ConfigurationError("Set OPENAI_API_KEY (and OPENAI_BASE_URL for a non-OpenAI endpoint).")
    return ChatOpenAI(
        model=settings.llm_model,
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed",
        base_url=settings.openai_base_url,
        timeout=settings.llm_timeout_s,
        max_retries=1,
        temperature=0.2,
        max_tokens=settings.llm_max_answer_tokens,
    )
