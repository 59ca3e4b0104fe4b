"""The agent's tools: typed functions whose docstrings are written for the model.

The caller's identity is bound here, by the server, when the tools are built for a turn: it is
never an argument the model fills, so no prompt and no text injected into a document or a
transcript can make a tool act as someone else. Every tool checks permissions in its own
implementation (or in the service it wraps, through `bot.core.access`); a denial comes back as
a short refusal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from langchain_core.tools import BaseTool, StructuredTool
from sqlalchemy import select

from bot.core.access import find_account
from bot.core.channel import ReplyImage
from bot.core.db import SessionFactory
from bot.core.errors import CopilotError, NotFound
from bot.core.identity import Identity
from bot.core.models import Role, Territory, User
from bot.core.settings import Settings
from chains.evidence import EvidenceUnit, gather_evidence
from chains.facts import CallCoaching, Facts, WhatIfComparison, render_facts
from insights.accounts import account_overview, my_pipeline
from insights.forecast import WHAT_IF_PARAMETERS, forecast
from insights.resonance import resonance
from insights.risk import list_alerts
from insights.summary import render_summary_chart, territory_summary
from retrieval import SearchHit

if TYPE_CHECKING:
    from collections.abc import Sequence

    from retrieval import Embedder
    from transcription.service import CallAnalysis, CallSummary, GapCoaching

__all__ = [
    "NO_RESULTS",
    "REFUSED",
    "CallReader",
    "KnowledgeSearch",
    "TurnContext",
    "build_tools",
    "tool_catalogue",
]

REFUSED = "REFUSED:"
NO_RESULTS = "NO RESULTS"


class KnowledgeSearch(Protocol):
    """What the agent needs of the retriever."""

    @property
    def embedder(self) -> Embedder: ...

    def search(
        self,
        identity: Identity,
        query: str,
        *,
        k: int | None = None,
        kinds: Sequence[str] | None = None,
        account_id: int | None = None,
        gap: str | None = None,
    ) -> list[SearchHit]: ...

    def warm_up(self) -> None: ...


class CallReader(Protocol):
    """What the agent needs of the call service."""

    def list_calls(self, identity: Identity, limit: int = 20) -> list[CallSummary]: ...

    def get_analysis(self, identity: Identity, call_id: int) -> CallAnalysis: ...

    def coaching(self, identity: Identity, call_id: int, gap_type: str | None = None) -> list[GapCoaching]: ...


@dataclass
class TurnContext:
    """What one turn's tools share: who asks, the services they read, and what the answer used
    (citations, audit records)."""

    settings: Settings
    sessions: SessionFactory
    retriever: KnowledgeSearch
    calls: CallReader
    identity: Identity
    language: str
    question: str = ""  # the request this turn answers: evidence is chosen for it
    hits: list[SearchHit] = field(default_factory=list)
    evidence: list[EvidenceUnit] = field(default_factory=list)  # units shown, citable by number
    facts: list[Facts] = field(default_factory=list)  # tool results rendered by code
    records: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    failures: list[CopilotError] = field(default_factory=list)
    images: list[ReplyImage] = field(default_factory=list)
    abstained: bool = False  # the knowledge base does not hold the answer, and the reply says so

    def number_of(self, hit: SearchHit) -> int:
        """The citation number of `hit`'s document in this turn (one number per document)."""
        doc_ids = [h.doc_id for h in self.hits]
        if hit.doc_id not in doc_ids:
            self.hits.append(hit)
            doc_ids.append(hit.doc_id)
            self.records.append(f"doc:{hit.doc_id}")
        return doc_ids.index(hit.doc_id) + 1

    def sources(self) -> dict[int, str]:
        """Citation number -> every text shown under it this turn (passages and units)."""
        shown: dict[int, list[str]] = {}
        for hit in self.hits:
            shown.setdefault(self.number_of(hit), []).append(hit.text)
        for unit in self.evidence:
            shown.setdefault(self.number_of(unit.hit), []).append(unit.text)
        return {number: "\n".join(texts) for number, texts in shown.items()}

    def cite_evidence(self, units: list[EvidenceUnit]) -> str:
        """The units as numbered lines for the model, remembered for grounding and citations."""
        lines = []
        for unit in units:
            self.evidence.append(unit)
            text = " ".join(unit.shown.split())
            lines.append(f"[{self.number_of(unit.hit)}] {unit.hit.title}: {text}")
        return "\n".join(lines)

    def answering_evidence(self, query: str) -> list[EvidenceUnit]:
        """The best sentences of the knowledge base for `query`, or none when no sentence holds
        what was asked (the retriever returns nothing when no passage is even about it)."""
        hits = self.retriever.search(self.identity, query, k=self.settings.answer_passages)
        units = gather_evidence(query, hits, self.retriever.embedder, limit=self.settings.answer_evidence_units)
        return units if units and units[0].score >= self.settings.answer_min_evidence else []

    def show_facts(self, facts: Facts) -> str:
        self.facts.append(facts)
        return facts.text


def _guarded(ctx: TurnContext, name: str, func: Callable[..., str]) -> Callable[..., str]:
    def run(**kwargs: Any) -> str:
        ctx.tool_calls.append({"name": name, "args": {k: v for k, v in kwargs.items() if v not in (None, "")}})
        try:
            return func(**kwargs)
        except CopilotError as exc:
            # Permission and lookup errors are answers for the user, not crashes; their
            # messages are user-safe by contract and reveal nothing the caller may not see.
            ctx.refusals.append(exc.user_message)
            ctx.failures.append(exc)
            return f"{REFUSED} {exc.user_message}"

    return run


# --- the tools -----------------------------------------------------------------------------------
# Each factory returns the tool's function with the turn's context bound in a closure.


def _search_knowledge(ctx: TurnContext) -> Callable[..., str]:
    def search_knowledge(query: str) -> str:
        """Search the sales knowledge base: playbooks, battle cards against competitors,
        product sheets, pricing and ROI guides, objection handling, case studies, compliance
        and security FAQs, partner programme, coaching micro-lessons. Use it for any question
        about how to sell, products, competitors, objections, pricing or compliance.
        `query`: the question in the user's own words."""
        units = ctx.answering_evidence(query)
        return ctx.cite_evidence(units) if units else NO_RESULTS

    return search_knowledge


def _account_overview(ctx: TurnContext) -> Callable[..., str]:
    def overview(account: str) -> str:
        """One customer account: industry, size, owner, contacts and their buying roles, open
        opportunities, recent stage moves and buyer signals, and the customer history (meeting
        notes, emails: budget, decision makers, competitors, concerns, next steps). Use it for
        questions about a named customer or "their budget / who decides / what happened last
        time". `account`: the account's name or part of it."""
        with ctx.sessions() as session:
            overview = account_overview(session, ctx.identity, account)
        ctx.records.append(f"account:{overview.id}")
        ctx.records.extend(f"opportunity:{line.id}" for line in overview.open_opportunities)
        facts = ctx.show_facts(render_facts("account_overview", overview, ctx.language))
        query = ctx.question or f"{overview.name} budget decision competitor concern next step"
        history = ctx.retriever.search(ctx.identity, query, k=3, account_id=overview.id)
        units = gather_evidence(query, history, ctx.retriever.embedder, limit=3)
        if not units:
            return facts
        return f"{facts}\nCustomer history:\n{ctx.cite_evidence(units)}"

    return overview


def _my_pipeline(ctx: TurnContext) -> Callable[..., str]:
    def pipeline() -> str:
        """The user's own open pipeline (a manager: their territory's): open opportunities by
        stage with amounts, expected close dates and coverage of this quarter's target. Use it
        for "my pipeline", "my deals", "what can I close this quarter"."""
        with ctx.sessions() as session:
            pipeline = my_pipeline(session, ctx.identity)
        ctx.records.extend(f"opportunity:{line.id}" for line in pipeline.opportunities)
        return ctx.show_facts(render_facts("my_pipeline", pipeline, ctx.language))

    return pipeline


_MINE = frozenset({"me", "my", "mine", "我", "我的"})


def _scope(ctx: TurnContext, target: str) -> str:
    """The forecast scope string for a free-text target, resolved on the server: a territory,
    a rep, an account or a product; empty = the caller's own (rep: theirs, else territory).
    Whether the caller may see it is decided by the forecast itself (bot.core.access)."""
    target = target.strip()
    identity = ctx.identity
    with ctx.sessions() as session:
        if not target or target.lower() in _MINE:
            if identity.role is Role.REP:
                return f"rep:{identity.handle}"
            territory = session.get(Territory, identity.territory_id) if identity.territory_id else None
            if territory is None:
                raise NotFound("Name a territory, rep, account or product to forecast.")
            return f"territory:{territory.name}"
        territory = session.scalar(
            select(Territory).where(
                Territory.name.ilike(target)
                | (Territory.name_zh == target)
                | Territory.name.ilike(f"%{target}%")
                | Territory.name_zh.like(f"%{target.removesuffix('区')}%")
            )
        )
        if territory is not None:
            return f"territory:{territory.name}"
        user = session.scalar(select(User).where(User.handle.ilike(target) | User.name.ilike(target)))
        if user is not None:
            return f"rep:{user.handle}"
        try:
            return f"account:{find_account(session, identity, target).name}"
        except NotFound:
            return f"product:{target}"


def _forecast(ctx: TurnContext) -> Callable[..., str]:
    def forecast_of(target: str = "", period: str = "") -> str:
        """Sales forecast (expected bookings vs. target, with a range) for a period.
        `target`: a territory (e.g. East China, 华东), a rep, an account or a product;
        empty for the user's own. `period`: a quarter like 2026-Q4, empty for the current one."""
        scope = _scope(ctx, target)
        ctx.records.append(f"forecast:{scope}")
        with ctx.sessions() as session:
            result = forecast(session, ctx.identity, scope, period=period or None)
        return ctx.show_facts(render_facts("forecast", result, ctx.language))

    return forecast_of


WhatIfDriver = Literal[
    "win_rate_shift",
    "deal_size_shift",
    "discount_rate",
    "cycle_stretch",
    "big_account_delay",
    "new_channel_ramp",
    "competitor_pressure",
]


def _what_if_change(parameter: str, change: float) -> float:
    """The insights engine takes fractions (0.05 = 5 points); people and models say "5"."""
    spec = WHAT_IF_PARAMETERS.get(parameter)
    if spec is None:
        raise NotFound(f"Unknown what-if driver '{parameter}'.")
    if not spec.minimum <= change <= spec.maximum and spec.minimum <= change / 100 <= spec.maximum:
        change = change / 100
    return change


def _what_if_forecast(ctx: TurnContext) -> Callable[..., str]:
    def what_if_forecast(parameter: WhatIfDriver, change: float, target: str = "", period: str = "") -> str:
        """What-if forecast: how the forecast moves if one driver changes. `parameter`:
        win_rate_shift (win rate up/down in points), deal_size_shift (bigger/smaller deals),
        discount_rate (extra discount), cycle_stretch (longer/shorter sales cycles),
        big_account_delay (key-account deliveries slip), new_channel_ramp (a new channel),
        competitor_pressure (competitors cut our odds). `change`: the size, e.g. 5 for 5 points
        or 5%, -10 for 10% less. `target`: territory, rep, account or product, empty for the
        user's own; `period`: a quarter like 2026-Q4, empty for the current one."""
        scope = _scope(ctx, target)
        ctx.records.append(f"forecast:{scope}")
        scenario: dict[str, float] = {parameter: _what_if_change(parameter, change)}
        with ctx.sessions() as session:
            result = forecast(session, ctx.identity, scope, period=period or None, what_if=scenario)
            # The baseline is not the tracked snapshot of the period: that is the plain forecast's.
            baseline = forecast(session, ctx.identity, scope, period=period or None, snapshot=False)
        comparison = WhatIfComparison(baseline=baseline, scenario=result)
        return ctx.show_facts(render_facts("what_if_forecast", comparison, ctx.language))

    return what_if_forecast


def _resonance_score(ctx: TurnContext) -> Callable[..., str]:
    def resonance_score(account: str) -> str:
        """Resonance score of one customer account: how engaged and receptive the customer is
        (0-100), with the signals behind it (meetings, replies, champions, competitor moves).
        `account`: the account's name or part of it."""
        with ctx.sessions() as session:
            result = resonance(session, ctx.identity, account)
        ctx.records.append(f"resonance:{result.account}")
        return ctx.show_facts(render_facts("resonance_score", result, ctx.language))

    return resonance_score


def _risk_alerts(ctx: TurnContext) -> Callable[..., str]:
    def risk_alerts(target: str = "") -> str:
        """Deal and account risk alerts: stalled deals, slipping close dates, competitor
        threats, going quiet. `target`: a territory, rep or account; empty for everything the
        user can see."""
        scope = _scope(ctx, target) if target.strip() else None
        with ctx.sessions() as session:
            alerts = list_alerts(session, ctx.identity, scope=scope)
        return ctx.show_facts(render_facts("risk_alerts", alerts, ctx.language))

    return risk_alerts


def _territory_summary(ctx: TurnContext) -> Callable[..., str]:
    def summary(territory: str = "") -> str:
        """A manager's summary of a territory: bookings vs. target, pipeline, forecast, top
        risks and rep performance, with a chart. `territory`: its name (e.g. East China, 华东),
        empty for the user's own."""
        with ctx.sessions() as session:
            summary = territory_summary(session, ctx.identity, territory or None)
        ctx.records.append(summary.scope)  # already "territory:NAME"
        # Drawn after the session closed: a chart takes about a second of CPU.
        chart = render_summary_chart(summary, ctx.settings.charts_dir / f"summary-{uuid.uuid4().hex[:12]}.png")
        ctx.images.append(ReplyImage(path=Path(chart), title=summary.title))
        return ctx.show_facts(render_facts("territory_summary", summary, ctx.language))

    return summary


def _call_coaching(ctx: TurnContext) -> Callable[..., str]:
    def call_coaching(call_id: int = 0) -> str:
        """Analysis of a recorded sales call and coaching for it: talk ratio, questions asked,
        the dialogue gaps found (with evidence) and what to do better. `call_id`: the call's
        number; 0 for the user's most recent call."""
        if not call_id:
            recent = ctx.calls.list_calls(ctx.identity, limit=1)
            if not recent:
                raise NotFound("You have no analysed calls yet: upload a recording first.")
            call_id = recent[0].id
        analysis = ctx.calls.get_analysis(ctx.identity, call_id)
        coaching = ctx.calls.coaching(ctx.identity, call_id)
        ctx.records.append(f"call:{call_id}")
        # The transcript stays out: metrics, gaps with their evidence and the coaching say it.
        return ctx.show_facts(render_facts("call_coaching", CallCoaching(analysis, coaching), ctx.language))

    return call_coaching


# name -> factory. The order is the order the model sees.
_REGISTRY: dict[str, Callable[[TurnContext], Callable[..., str]]] = {
    "search_knowledge": _search_knowledge,
    "account_overview": _account_overview,
    "my_pipeline": _my_pipeline,
    "forecast": _forecast,
    "what_if_forecast": _what_if_forecast,
    "resonance_score": _resonance_score,
    "risk_alerts": _risk_alerts,
    "territory_summary": _territory_summary,
    "call_coaching": _call_coaching,
}


def tool_catalogue() -> list[str]:
    """Every tool name the agent offers (the eval labels use these)."""
    return list(_REGISTRY)


def build_tools(ctx: TurnContext) -> list[BaseTool]:
    """This turn's tools, bound to `ctx` (and so to the caller's identity)."""
    return [_tool(ctx, name, factory(ctx)) for name, factory in _REGISTRY.items()]


def _tool(ctx: TurnContext, name: str, func: Callable[..., str]) -> BaseTool:
    """A StructuredTool whose schema comes from the typed signature and whose body is guarded."""
    schema_tool = StructuredTool.from_function(func, name=name)
    return StructuredTool(
        name=name,
        description=" ".join((schema_tool.description or "").split()),
        args_schema=schema_tool.args_schema,
        func=_guarded(ctx, name, func),
    )
