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

from bot.core.assets import local_llm_path
from bot.core.errors import ServiceUnavailable
from bot.core.settings import Settings

__all__ = ["LLMTimeout", "LocalLLM"]

logger = logging.getLogger(__name__)

# (model file, slot) -> (llama.cpp context, its lock). Loaded once per process; a llama.cpp
# context is not re-entrant, so each is used by one generation at a time.
_MODELS: dict[tuple[Path, str], tuple[Any, threading.Lock]] = {}
ROUTER = "router"
_LOAD_LOCK = threading.Lock()
ROUTER_CONTEXT_TOKENS = 2048


class LLMTimeout(ServiceUnavailable):
    default_message = "The language model took too long to answer."


class LocalLLM:
    """Contexts ("slots") over one memory-mapped model file, each keeping the prompt it last
    processed in its KV cache, so a prompt that starts the same way only pays for its new tokens
    (~16 ms each on 2 cores). The router slot keeps the long, fixed tool-choice prompt; the agent
    gives each answer language a slot of its own, so its system prompt stays cached. The weights
    are mapped once and shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.llm_local_model

    def _context(self, slot: str) -> tuple[Any, threading.Lock]:
        path = local_llm_path(self.settings.model_cache_dir, self.settings.llm_local_model)
        with _LOAD_LOCK:
            if (path, slot) not in _MODELS:
                from llama_cpp import Llama

                started = time.perf_counter()
                llama = Llama(
                    model_path=str(path),
                    n_ctx=ROUTER_CONTEXT_TOKENS if slot == ROUTER else self.settings.llm_context_tokens,
                    n_threads=self.settings.cpu_threads,
                    n_batch=256,
                    verbose=False,
                )
                _MODELS[(path, slot)] = (llama, threading.Lock())
                logger.info("loaded %s (%s) in %.1fs", path.name, slot, time.perf_counter() - started)
            return _MODELS[(path, slot)]

    def probe(self) -> float:
        """Load the model (once per process) and generate one token: seconds taken."""
        started = time.perf_counter()
        llama, lock = self._context(ROUTER)
        with lock:
            llama.create_completion("OK", max_tokens=1, temperature=0.0)
        return time.perf_counter() - started

    def choose(self, messages: list[dict[str, str]], schema: dict[str, Any], max_tokens: int = 160) -> dict[str, Any]:
        """A JSON object that matches `schema` (grammar-constrained, temperature 0)."""
        llama, lock = self._context(ROUTER)
        with lock:
            result = llama.create_chat_completion(
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

    def truncate(self, text: str, max_tokens: int) -> str:
        """`text` cut to at most `max_tokens` of this model's tokens (marked with " ..." when cut)."""
        # Tokenizing only reads the vocabulary: no need to wait for a generation to finish.
        llama, _lock = self._context(ROUTER)
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) <= max_tokens:
            return text
        kept = llama.detokenize(tokens[: max_tokens - 2]).decode("utf-8", errors="ignore")
        return kept.rstrip() + " ..."

    def prime(self, messages: list[dict[str, str]], *, slot: str) -> None:
        """Process `messages` into the slot's cache ahead of time (a prompt that starts the same
        way later skips that part)."""
        llama, lock = self._context(slot)
        with lock:
            llama.create_chat_completion(messages=messages, temperature=0.0, max_tokens=1)

    def stream(self, messages: list[dict[str, str]], max_tokens: int | None = None, *, slot: str) -> Iterator[str]:
        """Answer tokens as they come, written in `slot`'s context (whose cached prompt prefix is
        reused); stops with LLMTimeout past the configured time."""
        deadline = time.monotonic() + self.settings.llm_timeout_s
        llama, lock = self._context(slot)
        with lock:
            for chunk in llama.create_chat_completion(
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
