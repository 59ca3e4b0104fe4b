"""LLM providers: the packaged local model (llama.cpp) or any OpenAI-compatible endpoint."""

from integrations.llm._local import LLMTimeout, LocalLLM
from integrations.llm._openai import openai_chat_model

__all__ = ["LLMTimeout", "LocalLLM", "openai_chat_model"]
