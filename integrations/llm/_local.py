"""The packaged Qwen2.5-Coder GGUF through llama-cpp-python, loaded once per process.

Small models call tools unreliably in free text, so tool choice uses JSON-schema-constrained
decoding (llama.cpp grammar), and the answer is streamed token by token.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.errors import ServiceUnavailable
from bot.model_assets import local_llm_path
from bot.settings import Settings

__all__ = ["LocalLLM", "LLMTimeout"]

logger = logging.getLogger(__name__)

_MODELS: dict[Path, Any] = {}
_LOAD_LOCK = threading.Lock()


class LLMTimeout(ServiceUnavailable):
    default_message = "The language model took too long to answer."


class LocalLLM:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.llm_local_model
        # llama.cpp contexts are not re-entrant: one generation at a time per process.
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        path = local_llm_path(self.settings.model_cache_dir, self.settings.llm_local_model)
        with _LOAD_LOCK:
            if path not in _MODELS:
                from llama_cpp import Llama

                started = time.perf_counter()
                _MODELS[path] = Llama(
                    model_path=str(path),
                    n_ctx=self.settings.llm_context_tokens,
                    n_threads=self.settings.cpu_threads,
                    n_batch=256,
                    verbose=False,
                )
                logger.info("loaded %s in %.1fs", path.name, time.perf_counter() - started)
            return _MODELS[path]

    def choose(self, messages: list[dict[str, str]], schema: dict[str, Any], max_tokens: int = 96) -> dict[str, Any]:
        """A JSON object that matches `schema` (grammar-constrained, temperature 0)."""
        with self._lock:
            result = self.model.create_chat_completion(
                messages=messages,
                response_format={"type": "json_object", "schema": schema},
                temperature=0.0,
                max_tokens=max_tokens,
            )
        content = result["choices"][0]["message"]["content"] or "{}"
        try:
            return json.loads(content)
        except json.JSONDecodeError as exc:
            raise ServiceUnavailable("The language model returned malformed output.") from exc

    def stream(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> Iterator[str]:
        """Answer tokens as they come; stops with LLMTimeout past the configured time."""
        deadline = time.monotonic() + self.settings.llm_timeout_s
        with self._lock:
            for chunk in self.model.create_chat_completion(
                messages=messages,
                temperature=0.2,
                max_tokens=max_tokens or self.settings.llm_max_answer_tokens,
                stream=True,
            ):
                token = chunk["choices"][0]["delta"].get("content")
                if token:
                    yield token
                if time.monotonic() > deadline:
                    raise LLMTimeout()
