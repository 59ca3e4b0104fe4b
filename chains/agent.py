"""The copilot agent: one tool registry, two ways to drive it.

- Capable chat models (any OpenAI-compatible endpoint, or a test's scripted model) use
  native tool calling through langchain's `create_agent`.
- The small packaged local model picks a tool with JSON-schema-constrained decoding. A data
  tool's facts (pipeline, forecast, resonance...) are rendered by code and shown as they are;
  for knowledge and customer history the model writes a short answer from the best sentences.
- With no model (or when the model fails), the answer quotes the best sentences, cited.

Whatever writes it, a drafted answer passes the grounding check (`chains.grounding`) before
it is shown: a figure, date or name that its cited passages (or the tool's facts) do not hold
means the draft is dropped for a quote of the evidence. When no sentence of the knowledge base
holds what was asked, the answer says so instead of inventing. Answers are in the asker's
language and cite sources as [n].
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool
from sqlalchemy import select

from bot.core import access
from bot.core.channel import Citation, Reply, ReplyKind
from bot.core.db import SessionFactory
from bot.core.errors import CopilotError, PermissionDenied
from bot.core.identity import Identity
from bot.core.models import Account
from bot.core.ports import AnswerRequest, TokenCallback
from bot.core.settings import Settings
from bot.core.text import prompt, shared_prompt
from chains._quick_router import KNOWLEDGE_TOOL, QuickRouter
from chains.grounding import check_grounding, cited_numbers
from chains.tools import NO_RESULTS, REFUSED, CallReader, KnowledgeSearch, TurnContext, build_tools

__all__ = ["COMMAND_TOOLS", "CopilotAgent", "LocalModel"]

logger = logging.getLogger(__name__)

HISTORY_FOR_CHOICE = 4  # messages of the thread the tool choice sees
HISTORY_FOR_ANSWER = 2  # ... and the answer step (prompt tokens cost ~16 ms each locally)
FILLED_BY_THE_AGENT = {"search_knowledge": ("query",)}
# Each answer language has its own llama.cpp context, so its system prompt stays cached.
ANSWER_LANGUAGES = ("en", "zh")
# What the answer prompt asks the model to write when the evidence does not answer.
NOT_FOUND = "NOT FOUND"
# Tools whose facts the model writes an answer from; every other tool's facts are the answer.
WRITTEN_FROM_EVIDENCE = frozenset({KNOWLEDGE_TOOL, "account_overview"})
SNIPPET_CHARS = 600

# Slash-command verbs that name their tool outright: no model call needed to choose.
COMMAND_TOOLS = {
    "search": "search_knowledge",
    "account": "account_overview",
    "pipeline": "my_pipeline",
    "forecast": "forecast",
    "whatif": "what_if_forecast",
    "resonance": "resonance_score",
    "risk": "risk_alerts",
    "summary": "territory_summary",
    "coach": "call_coaching",
    "call": "call_coaching",
}


class LocalModel(Protocol):
    """A small local model driven in two steps (integrations.llm.LocalLLM): a schema-constrained
    tool choice, then a streamed answer in a context slot that keeps its prompt cached."""

    @property
    def name(self) -> str: ...

    def choose(
        self, messages: list[dict[str, str]], schema: dict[str, Any], max_tokens: int = ...
    ) -> dict[str, Any]: ...

    def truncate(self, text: str, max_tokens: int) -> str: ...

    def prime(self, messages: list[dict[str, str]], *, slot: str) -> None: ...

    def stream(self, messages: list[dict[str, str]], max_tokens: int | None = None, *, slot: str) -> Iterator[str]: ...


class CopilotAgent:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionFactory,
        retriever: KnowledgeSearch,
        calls: CallReader,
        *,
        local: LocalModel | None = None,
        chat_model: BaseChatModel | None = None,
        unavailable: str | None = None,
        quick_route: bool = False,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.retriever = retriever
        self.calls = calls
        self.local = local
        self.chat_model = chat_model
        self.unavailable = unavailable  # why the configured model could not be set up
        self.quick_route = quick_route  # plain knowledge questions skip the local tool choice
        self._quick_router: QuickRouter | None = None

    @property
    def model_name(self) -> str:
        if self.chat_model is not None:
            return getattr(self.chat_model, "model_name", None) or type(self.chat_model).__name__
        if self.local is not None:
            return self.local.name
        return "retrieval-only"

    def warm_up(self) -> None:
        """Load the local model and process the routing prompt's fixed prefix ahead of the first
        question (the terminal chat calls it while the user types)."""
        if self.local is None:
            return
        try:
            self._warm_up()
        except Exception as exc:  # the first question reports the problem; a warm-up stays quiet
            logger.warning("LLM warm-up failed: %s", getattr(exc, "user_message", exc))

    def _warm_up(self) -> None:
        assert self.local is not None
        guest = Identity.anonymous("cli", "warm-up")
        _ctx, tools = self.turn_tools(guest, "en")
        request = AnswerRequest(identity=guest, text="hello", language="en", history=[])
        self.local.choose(self._choice_messages(tools, request), _choice_schema(tools))
        for language in ANSWER_LANGUAGES:
            self.local.prime(self._answer_messages(language, [], ""), slot=_answer_slot(language))
        self.quick_router()
        self.retriever.warm_up()

    def turn_tools(
        self, identity: Identity, language: str, question: str = ""
    ) -> tuple[TurnContext, dict[str, BaseTool]]:
        """The tools of one turn, bound to the caller, and the context they record into."""
        ctx = TurnContext(self.settings, self.sessions, self.retriever, self.calls, identity, language, question)
        return ctx, {tool.name: tool for tool in build_tools(ctx)}

    # --- one turn ------------------------------------------------------------------------------
    def answer(self, request: AnswerRequest, on_token: TokenCallback | None = None) -> Reply:
        ctx, tools = self.turn_tools(request.identity, request.language, request.text)
        note = ""
        try:
            if self.chat_model is not None:
                text = self._native(ctx, tools, request)
            elif self.local is not None:
                text = self._local(ctx, tools, request)
            else:
                text = self._retrieval_only(ctx, request)
        except Exception as exc:
            if isinstance(exc, CopilotError):
                logger.warning("LLM failed (%s); answering from retrieval", exc.user_message)
            else:
                logger.exception("LLM failed; answering from retrieval")
            note = prompt("llm_unavailable", request.language)
            ctx, _tools = self.turn_tools(request.identity, request.language, request.text)  # a clean slate
            text = self._retrieval_only(ctx, request)
        kind: ReplyKind = "answer"
        if text.startswith(REFUSED):
            kind = "refusal"
            text = prompt("refusal", request.language).format(reason=text.removeprefix(REFUSED).strip())
        if self.unavailable and not note:
            note = f"({self.unavailable})"
        if note:
            text = f"{note}\n\n{text}"
        if on_token:
            # Only a checked answer is shown, so it arrives whole rather than token by token.
            on_token(text)
        return Reply(
            text=text,
            kind=kind,
            citations=_citations(ctx, text),
            tables=[table for facts in ctx.facts for table in facts.tables],
            images=ctx.images,
            tool_calls=ctx.tool_calls,
            records=list(dict.fromkeys(ctx.records)),
            language=request.language,
            abstained=ctx.abstained,
        )

    # --- no model: the best sentences, quoted -------------------------------------------------------
    def _retrieval_only(self, ctx: TurnContext, request: AnswerRequest) -> str:
        query = _with_account(request.text, self.conversation_account(request))
        ctx.tool_calls.append({"name": "search_knowledge", "args": {"query": query}})
        units = ctx.answering_evidence(query)
        if not units:
            return self._abstain(ctx, request)
        ctx.evidence.extend(units)
        return self._quote(ctx, request)

    # --- what a reader sees: a checked draft, a quote of the evidence, or "not in the documents" ---
    def _abstain(self, ctx: TurnContext, request: AnswerRequest) -> str:
        ctx.abstained = True
        return prompt("no_answer", request.language)

    def _quote(self, ctx: TurnContext, request: AnswerRequest, lead: str | None = None) -> str:
        """The sentences that hold the answer, each with its citation: what the documents say,
        word for word. Under a checked answer they show where it comes from; alone, they are
        the answer when a written one could not be trusted."""
        cited = set(cited_numbers(lead or ""))
        # The evidence the answer cites first: the quote shows what its figures stand on.
        ranked = sorted(ctx.evidence, key=lambda unit: ctx.number_of(unit.hit) not in cited)
        best = ranked[0]
        quoted = [best]
        # A second sentence from another passage when it is nearly as good (a figure and its
        # period are often split across a table row and its caption).
        for unit in ranked[1:]:
            if unit.hit.doc_id != best.hit.doc_id and unit.score >= best.score * 0.9:
                quoted.append(unit)
                break
        lines = [lead or prompt("quoted", request.language)]
        lines += [f"> {' '.join(unit.text.split())} [{ctx.number_of(unit.hit)}]" for unit in quoted]
        return "\n".join(lines)

    def _checked(self, ctx: TurnContext, request: AnswerRequest, draft: str) -> str:
        """`draft`, re-cited, if every figure, date and name in it is held by what it was shown
        (passages or the tool's facts), followed by the evidence it stands on; otherwise the
        evidence, quoted; or the facts themselves."""
        draft = draft.strip()
        facts = "\n".join(f.text for f in ctx.facts)
        if NOT_FOUND in draft.upper() or not draft:
            # The evidence step already judged that a sentence answers: the small model's
            # "not found" is less reliable than that, so the sentence is quoted.
            if ctx.evidence:
                return self._quote(ctx, request)
            return facts or self._abstain(ctx, request)
        grounding = check_grounding(draft, ctx.sources(), facts=facts, question=request.text)
        if not grounding.ok:
            logger.info("draft dropped, not held by its sources: %s", ", ".join(grounding.unsupported))
            if ctx.evidence:
                return self._quote(ctx, request)
            return facts or self._abstain(ctx, request)
        if not ctx.evidence:
            return grounding.text
        # The answer, then the sentence it stands on, so the rep can see and repeat the source.
        return self._quote(ctx, request, lead=grounding.text)

    # --- the local model: schema-constrained tool choice, then a grounded answer ------------------------
    def choose(self, request: AnswerRequest, tools: dict[str, BaseTool]) -> tuple[str, dict[str, Any]]:
        """The tool (and its arguments) for this request."""
        forced = COMMAND_TOOLS.get((request.command or "").lower())
        if forced in tools and not tools[forced].args:
            return forced, {}
        if self.chat_model is not None:
            return self._native_choice(tools, request, forced)
        assert self.local is not None
        if forced is None and KNOWLEDGE_TOOL in tools and self._plainly_knowledge(request):
            return KNOWLEDGE_TOOL, {"query": request.text}
        offered = {forced: tools[forced]} if forced in tools else tools
        choice = self.local.choose(self._choice_messages(offered, request), _choice_schema(offered))
        name = choice.get("tool")
        if name not in offered:
            name = "search_knowledge"
        args = {k: v for k, v in (choice.get("args") or {}).items() if k in tools[name].args}
        return name, args

    def _local(self, ctx: TurnContext, tools: dict[str, BaseTool], request: AnswerRequest) -> str:
        assert self.local is not None
        name, args = self.choose(request, tools)
        carried = self.conversation_account(request)
        if carried:
            # A follow-up ("and their budget?") keeps the account the thread is about.
            if "account" in tools[name].args and not self._names_visible_account(
                request.identity, str(args.get("account", ""))
            ):
                args["account"] = carried
            elif name == "search_knowledge":
                args["query"] = _with_account(str(args.get("query") or request.text), carried)
        if name == "search_knowledge" and not str(args.get("query", "")).strip():
            args["query"] = request.text
        result = tools[name].invoke(args)
        if result.startswith(REFUSED) and self._was_for_the_knowledge_base(ctx, tools, request, name):
            # A name that is no account the caller can see, a period no forecast reads: the
            # question was about the documents (a company in a filing, a fiscal year in a report).
            knowledge = tools[KNOWLEDGE_TOOL].invoke({"query": request.text})
            if knowledge != NO_RESULTS:
                name, result = KNOWLEDGE_TOOL, knowledge
        if result.startswith(REFUSED):
            return result
        if result == NO_RESULTS:
            return self._abstain(ctx, request)
        if name not in WRITTEN_FROM_EVIDENCE:
            return result  # the tool's facts, rendered by code: nothing for a model to garble
        context = self.local.truncate(result, self.settings.llm_local_answer_context_tokens)
        messages = self._answer_messages(request.language, request.history, context, request.text)
        draft = "".join(self.local.stream(messages, slot=_answer_slot(request.language)))
        return self._checked(ctx, request, draft)

    def _was_for_the_knowledge_base(
        self, ctx: TurnContext, tools: dict[str, BaseTool], request: AnswerRequest, chosen: str
    ) -> bool:
        """A data tool the router picked failed on a lookup, not on a permission."""
        return (
            chosen != KNOWLEDGE_TOOL
            and KNOWLEDGE_TOOL in tools
            and COMMAND_TOOLS.get((request.command or "").lower()) is None
            and bool(ctx.failures)
            and not isinstance(ctx.failures[-1], PermissionDenied)
        )

    def _answer_messages(
        self, language: str, history: list[tuple[str, str]], context: str, question: str = ""
    ) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": prompt("system", language)}]
        for role, content in history[-HISTORY_FOR_ANSWER:]:
            messages.append({"role": role, "content": content[:240]})
        messages.append(
            {"role": "user", "content": prompt("answer", language).format(context=context, question=question)}
        )
        return messages

    # --- the quick router -------------------------------------------------------------------------
    def quick_router(self) -> QuickRouter | None:
        if self.quick_route and self._quick_router is None:
            self._quick_router = QuickRouter(self.retriever.embedder)
        return self._quick_router

    def _plainly_knowledge(self, request: AnswerRequest) -> bool:
        """A question for the knowledge base with no customer in it (a named or carried account
        needs the model to pick among the account tools)."""
        router = self.quick_router()
        return (
            router is not None
            and self._named_account(request) is None
            and self.conversation_account(request) is None
            and router.is_knowledge_question(request.text)
        )

    def _choice_messages(self, tools: dict[str, BaseTool], request: AnswerRequest) -> list[dict[str, str]]:
        # The tool list is the same every turn and comes first, so llama.cpp reuses its cached
        # prefix; what changes (history, the question) comes last.
        listing = "\n".join(
            f"- {name}({', '.join(_router_args(name, tool))}): {tool.description}" for name, tool in tools.items()
        )
        # One routing prompt for both languages (the tools are described in English): a single
        # cached prefix serves every turn; the request part below is in the user's language.
        system = shared_prompt("tool_choice").format(tools=listing)
        history = "\n".join(
            f"{role}: {' '.join(content.split())[:160]}" for role, content in request.history[-HISTORY_FOR_CHOICE:]
        )
        account = self.conversation_account(request) or self._named_account(request)
        user = prompt("tool_choice_request", request.language).format(
            history=history or "-", account=account or "-", question=request.text
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    # --- conversation memory: which account is this thread about? -------------------------------------
    def conversation_account(self, request: AnswerRequest) -> str | None:
        """The account named most recently in this thread, when the new message names none."""
        if not request.history or request.identity.role is None:
            return None
        names = self._visible_account_names(request.identity)
        if _mentioned(request.text, names):
            return None
        for _role, content in reversed(request.history):
            found = _mentioned(content, names)
            if found:
                return found
        return None

    def _named_account(self, request: AnswerRequest) -> str | None:
        """A visible account the request names, so the router knows a customer is meant."""
        if request.identity.role is None:
            return None
        return _mentioned(request.text, self._visible_account_names(request.identity))

    def _names_visible_account(self, identity: Identity, text: str) -> bool:
        return bool(text.strip()) and _mentioned(text, self._visible_account_names(identity)) is not None

    def _visible_account_names(self, identity: Identity) -> dict[str, str]:
        """Every spelling of the caller's visible accounts -> the account's name."""
        with self.sessions() as session:
            rows = session.execute(
                select(Account.name, Account.name_en).where(access.accounts(identity).clause(Account))
            ).all()
        names: dict[str, str] = {}
        for name, name_en in rows:
            names[name.lower()] = name
            if name_en:
                names[name_en.lower()] = name
        return names

    # --- capable models: native tool calling -------------------------------------------------------------
    def _native(self, ctx: TurnContext, tools: dict[str, BaseTool], request: AnswerRequest) -> str:
        from langchain.agents import create_agent

        assert self.chat_model is not None
        agent = create_agent(
            model=self.chat_model,
            tools=list(tools.values()),
            system_prompt=prompt("system_tools", request.language),
        )
        messages: list[BaseMessage] = []
        for role, content in request.history[-HISTORY_FOR_CHOICE:]:
            messages.append(HumanMessage(content) if role == "user" else AIMessage(content))
        carried = self.conversation_account(request)
        question = (
            shared_prompt("account_in_question").format(question=request.text, account=carried)
            if carried
            else request.text
        )
        messages.append(HumanMessage(question))
        # langgraph types its input as a TypedDict of this shape; a plain dict is what it takes.
        result = agent.invoke({"messages": messages})  # type: ignore[call-overload]
        final = result["messages"][-1]
        text = final.content if isinstance(final.content, str) else str(final.content)
        if ctx.refusals and not ctx.hits and len(ctx.refusals) == len(ctx.tool_calls):
            return f"{REFUSED} {ctx.refusals[-1]}"
        # A capable model is checked like the local one: its figures must be in what it cited.
        return self._checked(ctx, request, text)

    def _native_choice(
        self, tools: dict[str, BaseTool], request: AnswerRequest, forced: str | None
    ) -> tuple[str, dict[str, Any]]:
        assert self.chat_model is not None
        bound = self.chat_model.bind_tools(list(tools.values()))
        messages: list[BaseMessage] = [SystemMessage(prompt("system_tools", request.language))]
        for role, content in request.history[-HISTORY_FOR_CHOICE:]:
            messages.append(HumanMessage(content) if role == "user" else AIMessage(content))
        messages.append(HumanMessage(request.text))
        response = bound.invoke(messages)
        calls = getattr(response, "tool_calls", None) or []
        if forced in tools:
            return forced, dict(calls[0]["args"]) if calls and calls[0]["name"] == forced else {}
        if not calls:
            return "none", {}
        return calls[0]["name"], dict(calls[0]["args"])


def _citations(ctx: TurnContext, text: str) -> list[Citation]:
    """One citation per document the answer cites (every one shown, when it cites none), its
    snippet the sentences the answer was written from, so a reader sees what holds the figure."""
    used = set(cited_numbers(text))
    citations: list[Citation] = []
    for hit in ctx.hits:
        number = ctx.number_of(hit)
        if (used and number not in used) or any(c.index == number for c in citations):
            continue
        units = [" ".join(u.text.split()) for u in ctx.evidence if u.hit.doc_id == hit.doc_id]
        snippet = " … ".join(dict.fromkeys(units)) if units else hit.text[:200]
        citations.append(Citation(number, hit.doc_id, hit.title, hit.source, snippet[:SNIPPET_CHARS]))
    return citations


def _answer_slot(language: str) -> str:
    return f"answer-{language if language in ANSWER_LANGUAGES else ANSWER_LANGUAGES[0]}"


def _mentioned(text: str, names: dict[str, str]) -> str | None:
    """The longest visible account spelling that occurs in `text`."""
    lowered = text.lower()
    best = max((spelling for spelling in names if len(spelling) >= 2 and spelling in lowered), key=len, default=None)
    return names[best] if best else None


def _with_account(query: str, account: str | None) -> str:
    return f"{account} {query}" if account and account.lower() not in query.lower() else query


def _router_args(name: str, tool: BaseTool) -> list[str]:
    """The arguments the local router writes. A search's query is the request itself: having
    the small model copy it out costs ~1 s of generation and adds nothing."""
    return [arg for arg in tool.args if arg not in FILLED_BY_THE_AGENT.get(name, ())]


def _choice_schema(tools: dict[str, BaseTool]) -> dict[str, Any]:
    """{"tool": one of the names, "args": that tool's arguments}: grammar-constrained decoding
    can then only produce a valid call."""
    options = []
    for name, tool in tools.items():
        fills = _router_args(name, tool)
        properties = {arg: _json_type(tool.args[arg]) for arg in fills}
        required = [arg for arg in fills if "default" not in tool.args[arg]]
        options.append(
            {
                "type": "object",
                "properties": {
                    "tool": {"const": name},
                    "args": {"type": "object", "properties": properties, "required": required},
                },
                "required": ["tool", "args"],
            }
        )
    return {"anyOf": options}


def _json_type(spec: dict[str, Any]) -> dict[str, Any]:
    if "enum" in spec:
        return {"type": "string", "enum": list(spec["enum"])}
    kind = spec.get("type")
    if kind is None:
        kinds = [option.get("type") for option in spec.get("anyOf", []) if option.get("type") != "null"]
        kind = kinds[0] if kinds else "string"
    return {"type": kind}
