"""The agent's tools: typed functions whose docstrings are written for the model.

The caller's identity is bound here, by the server, when the tools are built for a turn: it is
never an argument the model fills, so no prompt and no text injected into a document or a
transcript can make a tool act as someone else. Every tool checks permissions in its own
implementation (or in the service it wraps); a denial comes back as a short refusal.

A tool is registered only when the function it wraps is installed, so the model is never
offered a tool that cannot run.
"""

from __future__ import annotations

import importlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.tools import BaseTool, StructuredTool
from sqlalchemy import select

from bot.core.channel import ReplyImage
from bot.core.errors import CopilotError, NotFound
from bot.core.identity import Identity
from bot.core.access import find_account
from bot.core.models import Role, Territory, User
from retrieval import SearchHit

if TYPE_CHECKING:
    from bot.app import App

__all__ = [
    "TurnContext",
    "build_tools",
    "tool_catalogue",
    "REFUSED",
    "NO_RESULTS",
    "PASSAGE_CHARS",
    "RESULT_CHARS",
]

logger = logging.getLogger(__name__)

PASSAGE_CHARS = 360  # per passage in the model's context: small prompts keep the local model fast
RESULT_CHARS = 1400  # a structured tool result (forecast, alerts...) shown to the model
REFUSED = "REFUSED:"
NO_RESULTS = "NO RESULTS"


@dataclass
class TurnContext:
    """What one turn's tools share: who asks, and what the answer used (citations, audit)."""

    app: App
    identity: Identity
    language: str
    hits: list[SearchHit] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    images: list[ReplyImage] = field(default_factory=list)

    def cite(self, hits: list[SearchHit]) -> str:
        """Number passages across the whole turn, one number per document."""
        lines = []
        for hit in hits:
            doc_ids = [h.doc_id for h in self.hits]
            if hit.doc_id not in doc_ids:
                self.hits.append(hit)
                doc_ids.append(hit.doc_id)
            number = doc_ids.index(hit.doc_id) + 1
            self.records.append(f"doc:{hit.doc_id}")
            # Chunks repeat their document's title; the citation line already shows it.
            text = " ".join(hit.text.split()).removeprefix(hit.title).strip()[:PASSAGE_CHARS]
            lines.append(f"[{number}] {hit.title}: {text}")
        return "\n".join(lines)


def _guarded(ctx: TurnContext, name: str, func: Callable[..., str]) -> Callable[..., str]:
    def run(**kwargs: Any) -> str:
        ctx.tool_calls.append({"name": name, "args": {k: v for k, v in kwargs.items() if v not in (None, "")}})
        try:
            return func(**kwargs)
        except CopilotError as exc:
            # Permission and lookup errors are answers for the user, not crashes; their
            # messages are user-safe by contract and reveal nothing the caller may not see.
            ctx.refusals.append(exc.user_message)
            return f"{REFUSED} {exc.user_message}"

    return run


def _installed(module: str, attribute: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), attribute)
    except ImportError:
        return False


def _insight(module: str, attribute: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(f"insights.{module}"), attribute)


def _render(result: Any, limit: int = RESULT_CHARS) -> str:
    """A structured result as compact text for the model: its to_dict() without empty fields,
    trimmed (every prompt token costs the local model ~16 ms)."""
    data = _compact(result.to_dict() if hasattr(result, "to_dict") else result)
    return json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))[:limit]


def _compact(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v not in (None, "", [], {})}
    if isinstance(value, (list, tuple)):
        return [_compact(v) for v in value]
    if isinstance(value, float):
        return round(value, 3)
    return value


def _calls_available(app: App) -> bool:
    try:
        calls = app.calls
    except ImportError:
        return False
    return all(hasattr(calls, name) for name in ("get_analysis", "list_calls", "coaching"))


# --- the tools -----------------------------------------------------------------------------------
# Each factory returns the tool's function with the turn's context bound in a closure.


def _search_knowledge(ctx: TurnContext) -> Callable[..., str]:
    def search_knowledge(query: str) -> str:
        """Search the sales knowledge base: playbooks, battle cards against competitors,
        product sheets, pricing and ROI guides, objection handling, case studies, compliance
        and security FAQs, partner programme, coaching micro-lessons. Use it for any question
        about how to sell, products, competitors, objections, pricing or compliance.
        `query`: the question in the user's own words."""
        # The retriever returns nothing when no passage is about the query.
        hits = ctx.app.retriever.search(ctx.identity, query, k=4)
        return ctx.cite(hits) if hits else NO_RESULTS

    return search_knowledge


def _account_overview(ctx: TurnContext) -> Callable[..., str]:
    app, identity = ctx.app, ctx.identity

    def account_overview(account: str) -> str:
        """One customer account: industry, size, owner, contacts and their buying roles, open
        opportunities, recent stage moves and buyer signals, and the customer history (meeting
        notes, emails: budget, decision makers, competitors, concerns, next steps). Use it for
        questions about a named customer or "their budget / who decides / what happened last
        time". `account`: the account's name or part of it."""
        overview = _insight("accounts", "account_overview")(app, identity, account)
        ctx.records.append(f"account:{overview.id}")
        ctx.records.extend(f"opportunity:{line.id}" for line in overview.open_opportunities)
        facts = _render(overview, limit=RESULT_CHARS // 2)
        history = app.retriever.search(
            identity, f"{overview.name} budget decision competitor concern next step", k=3, account_id=overview.id
        )
        if not history:
            return facts
        return f"{facts}\nCustomer history:\n{ctx.cite(history)}"

    return account_overview


def _my_pipeline(ctx: TurnContext) -> Callable[..., str]:
    def my_pipeline() -> str:
        """The user's own open pipeline (a manager: their territory's): open opportunities by
        stage with amounts, expected close dates and coverage of this quarter's target. Use it
        for "my pipeline", "my deals", "what can I close this quarter"."""
        pipeline = _insight("accounts", "my_pipeline")(ctx.app, ctx.identity)
        ctx.records.extend(f"opportunity:{line.id}" for line in pipeline.opportunities)
        if not pipeline.opportunities:
            return "No open opportunities are visible to this user. " + _render(pipeline, limit=400)
        return _render(pipeline)

    return my_pipeline


def _scope(ctx: TurnContext, target: str) -> str:
    """The forecast scope string for a free-text target, resolved on the server: a territory,
    a rep, an account or a product; empty = the caller's own (rep: theirs, else territory)."""
    target = target.strip()
    identity = ctx.identity
    with ctx.app.db.session() as session:
        if not target or target.lower() in {"me", "my", "mine", "我", "我的"}:
            if identity.role is Role.REP:
                return f"rep:{identity.handle}"
            territory = session.get(Territory, identity.territory_id) if identity.territory_id else None
            if territory is None:
                raise NotFound("Name a territory, rep, account or product to forecast.")
            return f"territory:{territory.name}"
        territory = session.scalar(
            select(Territory).where(
                Territory.name.ilike(target) | (Territory.name_zh == target) | Territory.name.ilike(f"%{target}%")
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
    def forecast(target: str = "", period: str = "") -> str:
        """Sales forecast (expected bookings vs. target, with a range) for a period.
        `target`: a territory (e.g. East China, 华东), a rep, an account or a product;
        empty for the user's own. `period`: a quarter like 2026-Q4, empty for the current one."""
        scope = _scope(ctx, target)
        ctx.records.append(f"forecast:{scope}")
        result = _insight("forecast", "forecast")(ctx.app, ctx.identity, scope, period=period or None)
        return _render(result)

    return forecast


WhatIfDriver = Literal[
    "win_rate_shift", "deal_size_shift", "discount_rate", "cycle_stretch",
    "big_account_delay", "new_channel_ramp", "competitor_pressure",
]


def _what_if_change(parameter: str, change: float) -> float:
    """The insights engine takes fractions (0.05 = 5 points); people and models say "5"."""
    spec = _insight("forecast", "WHAT_IF_PARAMETERS").get(parameter)
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
        result = _insight("forecast", "forecast")(
            ctx.app, ctx.identity, scope, period=period or None, what_if={parameter: _what_if_change(parameter, change)}
        )
        return _render(result)

    return what_if_forecast


def _resonance_score(ctx: TurnContext) -> Callable[..., str]:
    def resonance_score(account: str) -> str:
        """Resonance score of one customer account: how engaged and receptive the customer is
        (0-100), with the signals behind it (meetings, replies, champions, competitor moves).
        `account`: the account's name or part of it."""
        result = _insight("resonance", "resonance")(ctx.app, ctx.identity, account)
        ctx.records.append(f"resonance:{result.account}")
        return _render(result)

    return resonance_score


def _risk_alerts(ctx: TurnContext) -> Callable[..., str]:
    def risk_alerts(target: str = "") -> str:
        """Deal and account risk alerts: stalled deals, slipping close dates, competitor
        threats, going quiet. `target`: a territory, rep or account; empty for everything the
        user can see."""
        scope = _scope(ctx, target) if target.strip() else None
        result = _insight("risk", "list_alerts")(ctx.app, ctx.identity, scope=scope)
        items = result if isinstance(result, (list, tuple)) else [result]
        if not items:
            return "No open risk alerts."
        return _render([item.to_dict() if hasattr(item, "to_dict") else item for item in items])

    return risk_alerts


def _territory_summary(ctx: TurnContext) -> Callable[..., str]:
    def territory_summary(territory: str = "") -> str:
        """A manager's summary of a territory: bookings vs. target, pipeline, forecast, top
        risks and rep performance, with a chart. `territory`: its name (e.g. East China, 华东),
        empty for the user's own."""
        chart = ctx.app.settings.charts_dir / f"summary-{uuid.uuid4().hex[:12]}.png"
        summary = _insight("summary", "territory_summary")(ctx.app, ctx.identity, territory or None, png=chart)
        ctx.records.append(summary.scope)  # already "territory:NAME"
        if summary.chart_path:
            ctx.images.append(ReplyImage(path=Path(summary.chart_path), title=summary.title))
        return _render({k: v for k, v in summary.to_dict().items() if k not in ("history", "gap_heatmap", "chart_path")})

    return territory_summary


def _call_coaching(ctx: TurnContext) -> Callable[..., str]:
    def call_coaching(call_id: int = 0) -> str:
        """Analysis of a recorded sales call and coaching for it: talk ratio, questions asked,
        the dialogue gaps found (with evidence) and what to do better. `call_id`: the call's
        number; 0 for the user's most recent call."""
        calls = ctx.app.calls
        if not call_id:
            recent = calls.list_calls(ctx.identity, limit=1)
            if not recent:
                raise NotFound("You have no analysed calls yet: upload a recording first.")
            latest = recent[0]
            call_id = int(latest["id"] if isinstance(latest, dict) else latest.id)
        analysis = calls.get_analysis(ctx.identity, call_id)
        coaching = calls.coaching(ctx.identity, call_id)
        ctx.records.append(f"call:{call_id}")
        # The transcript stays out: metrics, gaps with their evidence and the coaching say it.
        return _render(
            {
                "call": {"id": analysis.call_id, "title": analysis.title, "status": analysis.status, "error": analysis.error},
                "metrics": analysis.metrics,
                "gaps": analysis.gaps[:6],
                "coaching": coaching[:4],
            }
        )

    return call_coaching


# name -> (factory, availability check). The order is the order the model sees.
_REGISTRY: dict[str, tuple[Callable[[TurnContext], Callable[..., str]], Callable[[App], bool]]] = {
    "search_knowledge": (_search_knowledge, lambda app: True),
    "account_overview": (_account_overview, lambda app: _installed("insights.accounts", "account_overview")),
    "my_pipeline": (_my_pipeline, lambda app: _installed("insights.accounts", "my_pipeline")),
    "forecast": (_forecast, lambda app: _installed("insights.forecast", "forecast")),
    "what_if_forecast": (_what_if_forecast, lambda app: _installed("insights.forecast", "WHAT_IF_PARAMETERS")),
    "resonance_score": (_resonance_score, lambda app: _installed("insights.resonance", "resonance")),
    "risk_alerts": (_risk_alerts, lambda app: _installed("insights.risk", "list_alerts")),
    "territory_summary": (_territory_summary, lambda app: _installed("insights.summary", "territory_summary")),
    "call_coaching": (_call_coaching, _calls_available),
}


def tool_catalogue() -> list[str]:
    """Every tool name the agent knows, installed or not (the eval labels use these)."""
    return list(_REGISTRY)


def build_tools(ctx: TurnContext, *, only_installed: bool = True) -> list[BaseTool]:
    """This turn's tools, bound to `ctx` (and so to the caller's identity)."""
    tools = []
    for name, (factory, available) in _REGISTRY.items():
        if only_installed and not available(ctx.app):
            continue
        tools.append(_tool(ctx, factory(ctx)))
    return tools


def _tool(ctx: TurnContext, func: Callable[..., str]) -> BaseTool:
    """A StructuredTool whose schema comes from the typed signature and whose body is guarded."""
    schema_tool = StructuredTool.from_function(func)
    return StructuredTool(
        name=schema_tool.name,
        description=" ".join(schema_tool.description.split()),
        args_schema=schema_tool.args_schema,
        func=_guarded(ctx, schema_tool.name, func),
    )
