"""Fakes the agent's unit tests share: a scripted chat model (native tool calls), a scripted
local model (schema-constrained choice + streamed tokens) and an in-memory retriever that
applies the same owner/public permission rule as the real one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from bot.core.access import visible_account_ids
from bot.core.db import SessionFactory
from bot.core.errors import ServiceUnavailable
from bot.core.identity import Identity
from chains.agent import CopilotAgent
from retrieval import SearchHit


class ScriptedChatModel(BaseChatModel):
    """Replays scripted AI messages (tool calls, then an answer) and records what it saw."""

    script: list[AIMessage]
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.seen.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=self.script.pop(0))])


def tool_call(name: str, **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call-{name}"}])


@dataclass
class ScriptedLocalLLM:
    """Stands in for `integrations.llm.LocalLLM`: a scripted tool choice, then answer tokens."""

    choices: list[dict[str, Any]]
    answer_tokens: list[str] = field(default_factory=lambda: ["Answer", " [1]", "."])
    fail_stream: bool = False
    name: str = "scripted-local"
    choice_prompts: list[list[dict[str, str]]] = field(default_factory=list)
    answer_prompts: list[list[dict[str, str]]] = field(default_factory=list)
    schemas: list[dict[str, Any]] = field(default_factory=list)
    answer_slots: list[str] = field(default_factory=list)
    primed: list[str] = field(default_factory=list)

    def choose(self, messages: list[dict[str, str]], schema: dict[str, Any], max_tokens: int = 96) -> dict[str, Any]:
        self.choice_prompts.append(messages)
        self.schemas.append(schema)
        return self.choices.pop(0)

    def truncate(self, text: str, max_tokens: int) -> str:
        return text if len(text) <= max_tokens * 4 else text[: max_tokens * 4] + " ..."

    def prime(self, messages: list[dict[str, str]], *, slot: str) -> None:
        self.primed.append(slot)

    def stream(self, messages: list[dict[str, str]], max_tokens: int | None = None, *, slot: str) -> Iterator[str]:
        self.answer_prompts.append(messages)
        self.answer_slots.append(slot)
        if self.fail_stream:
            raise ServiceUnavailable("The language model took too long to answer.")
        yield from self.answer_tokens


@dataclass
class Doc:
    doc_id: int
    title: str
    text: str
    account_id: int | None = None  # set: a customer history only the account's viewers see
    words: tuple[str, ...] = ()


class FakeRetriever:
    """Keyword retrieval over a few documents; customer histories follow account visibility."""

    def __init__(self, sessions: SessionFactory, docs: list[Doc]) -> None:
        self.sessions = sessions
        self.docs = docs
        self.queries: list[tuple[str, str, int | None]] = []
        # No embedding model: evidence is weighed by the question's words alone.
        self.embedder = None

    def search(
        self,
        identity: Identity,
        query: str,
        *,
        k: int | None = None,
        kinds: Any = None,
        account_id: int | None = None,
        gap: str | None = None,
        mode: str = "hybrid",
    ) -> list[SearchHit]:
        self.queries.append((identity.handle, query, account_id))
        with self.sessions() as session:
            visible = visible_account_ids(session, identity) if identity.role else set()
        hits = []
        lowered = query.lower()
        for doc in self.docs:
            if doc.account_id is not None and visible is not None and doc.account_id not in visible:
                continue
            if account_id is not None and doc.account_id != account_id:
                continue
            if account_id is None and not any(word in lowered for word in doc.words):
                continue
            hits.append(
                SearchHit(
                    doc_id=doc.doc_id,
                    chunk_id=f"{doc.doc_id}:0",
                    title=doc.title,
                    source=f"kb/{doc.doc_id}.md",
                    kind="customer_history" if doc.account_id else "playbook",
                    language="en",
                    account_id=doc.account_id,
                    text=doc.text,
                    score=1.0,
                )
            )
        return hits[: k or 6]

    def warm_up(self) -> None:
        self.warmed = True


def agent_over(app: Any, retriever: Any = None, **model: Any) -> CopilotAgent:
    """The agent over an app's database and call service, with `retriever` (default: the app's)."""
    return CopilotAgent(app.settings, app.db.session, retriever or app.retriever, app.calls, **model)
