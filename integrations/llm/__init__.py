"""LLM providers: the packaged local model (llama.cpp) or any OpenAI-compatible endpoint."""

from integrations.llm._local import LocalLLM, LLMTimeout
from integrations.llm._openai import openai_chat_model

__all__ = ["LocalLLM", "LLMTimeout", "openai_chat_model"]
