"""The copilot agent: one tool registry, two ways to drive it.

- Capable chat models (any OpenAI-compatible endpoint, or a test's scripted model) use
  native tool calling through langchain's `create_agent`.
- The small packaged local model picks a tool with JSON-schema-constrained decoding, then
  writes a grounded answer from that tool's output, streamed.
- With no model (or when the model fails), the answer is the best passages, cited.

Answers are in the asker's language, cite sources as [n], and say plainly when the
knowledge base has nothing instead of inventing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage

import prompts
from bot.channel import Reply
from bot.copilot import AnswerRequest
from bot.errors import CopilotError
from chains.tools import TOOL_ARGUMENT, TurnContext, build_tools
from integrations.llm import LocalLLM
from retrieval import to_citations

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["CopilotAgent", "build_answerer", "TokenCallback"]

logger = logging.getLogger(__name__)

TokenCallback = Callable[[str], None]
HISTORY_FOR_MODEL = 4  # messages of the thread the model sees


class CopilotAgent:
    def __init__(self, app: App, *, local: LocalLLM | None = None, chat_model: BaseChatModel | None = None) -> None:
        self.app = app
        self.local = local
        self.chat_model = chat_model

    @property
    def model_name(self) -> str:
        if self.chat_model is not None:
            return getattr(self.chat_model, "model_name", None) or type(self.chat_model).__name__
        if self.local is not None:
            return self.local.name
        return "retrieval-only"

    def answer(self, request: AnswerRequest, on_token: TokenCallback | None = None) -> Reply:
        ctx = TurnContext(self.app, request.identity, request.language)
        tools = {tool.name: tool for tool in build_tools(ctx)}
        note = ""
        try:
            if self.chat_model is not None:
                text = self._native(ctx, tools, request)
            elif self.local is not None:
                text = self._local(ctx, tools, request, on_token)
            else:
                text = self._retrieval_only(ctx, request)
        except Exception as exc:
            if isinstance(exc, CopilotError):
                logger.warning("LLM failed (%s); answering from retrieval", exc)
            else:
                logger.exception("LLM crashed; answering from retrieval")
            note = prompts.load("llm_unavailable", request.language)
            ctx.hits.clear()  # number only the passages this answer shows
            text = self._retrieval_only(ctx, request)
        if note:
            text = f"{note}\n\n{text}"
        kind = "refusal" if text.startswith("REFUSED:") else "answer"
        if kind == "refusal":
            text = text.removeprefix("REFUSED:").strip()
        return Reply(
            text=text,
            kind=kind,
            citations=to_citations(ctx.hits),
            tool_calls=ctx.tool_calls,
            records=sorted(set(ctx.records)),
            language=request.language,
        )

    # --- no model: the best passages, cited ------------------------------------------------------
    def _retrieval_only(self, ctx: TurnContext, request: AnswerRequest) -> str:
        hits = self.app.retriever.search(request.identity, request.text, k=3)
        if not hits:
            return prompts.load("no_answer", request.language)
        ctx.tool_calls.append({"name": "search_knowledge", "args": {"query": request.text}})
        return prompts.load("retrieval_only", request.language) + "\n" + ctx.cite(hits)

    # --- the local model: schema-constrained tool choice, then a grounded answer -----------------------
    def _local(self, ctx: TurnContext, tools: dict[str, Any], request: AnswerRequest, on_token: TokenCallback | None) -> str:
        assert self.local is not None
        choice = self.local.choose(self._choice_messages(tools, request), self._choice_schema(tools))
        name = choice.get("tool") if choice.get("tool") in tools else "search_knowledge"
        argument_name = TOOL_ARGUMENT.get(name)
        argument = str(choice.get("argument") or "").strip() or request.text
        args = {argument_name: argument} if argument_name else {}
        result = tools[name].invoke(args)
        if result.startswith("REFUSED:"):
            return result
        if result.startswith("NO RESULTS"):
            return prompts.load("no_answer", request.language)
        messages = [{"role": "system", "content": prompts.load("system", request.language)}]
        for role, content in request.history[-HISTORY_FOR_MODEL:]:
            messages.append({"role": role, "content": content[:600]})
        messages.append({"role": "user", "content": f"Context:\n{result}\n\nQuestion: {request.text}"})
        tokens: list[str] = []
        for token in self.local.stream(messages):
            tokens.append(token)
            if on_token:
                on_token(token)
        return "".join(tokens).strip()

    def _choice_schema(self, tools: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"tool": {"type": "string", "enum": list(tools)}, "argument": {"type": "string"}},
            "required": ["tool", "argument"],
        }

    def _choice_messages(self, tools: dict[str, Any], request: AnswerRequest) -> list[dict[str, str]]:
        listing = "\n".join(
            f"- {name}({TOOL_ARGUMENT.get(name) or ''}): {' '.join(tool.description.split())[:260]}"
            for name, tool in tools.items()
        )
        history = "\n".join(f"{role}: {content[:200]}" for role, content in request.history[-HISTORY_FOR_MODEL:]) or "(none)"
        system = prompts.load("tool_choice", request.language).format(tools=listing, history=history)
        return [{"role": "system", "content": system}, {"role": "user", "content": request.text}]

    # --- capable models: native tool calling -------------------------------------------------------------
    def _native(self, ctx: TurnContext, tools: dict[str, Any], request: AnswerRequest) -> str:
        from langchain.agents import create_agent

        agent = create_agent(
            model=self.chat_model,
            tools=list(tools.values()),
            system_prompt=prompts.load("system", request.language)
            + "\nCall tools to get the context; tool results are the numbered context.",
        )
        messages: list[Any] = []
        for role, content in request.history[-HISTORY_FOR_MODEL:]:
            messages.append(HumanMessage(content) if role == "user" else AIMessage(content))
        messages.append(HumanMessage(request.text))
        result = agent.invoke({"messages": messages})
        final = result["messages"][-1]
        text = final.content if isinstance(final.content, str) else str(final.content)
        refusals = [m.content for m in result["messages"] if isinstance(m.content, str) and m.content.startswith("REFUSED:")]
        if refusals and not ctx.hits:
            return refusals[-1]
        return text.strip()


def build_answerer(app: App) -> CopilotAgent:
    provider = app.settings.llm_provider
    if provider == "openai":
        from integrations.llm import openai_chat_model

        return CopilotAgent(app, chat_model=openai_chat_model(app.settings))
    if provider == "local":
        return CopilotAgent(app, local=LocalLLM(app.settings))
    return CopilotAgent(app)
