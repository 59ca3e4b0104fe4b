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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool, StructuredTool
from sqlalchemy import select

from bot.errors import CopilotError, NotFound
from bot.identity import Identity, account_clause, find_account
from bot.models import OPEN_STAGES, Account, Contact, Opportunity, OpportunityStatus, Role, Territory, User
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


def _render(result: Any) -> str:
    """A structured result as compact text for the model (its to_dict(), trimmed)."""
    data = result.to_dict() if hasattr(result, "to_dict") else result
    text = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    return text[:RESULT_CHARS]


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
        opportunities, and the customer history (meeting notes, emails: budget, decision
        makers, competitors, concerns, next steps). Use it for questions about a named
        customer or "their budget / who decides / what happened last time".
        `account`: the account's name or part of it."""
        with app.db.session() as session:
            found = find_account(session, identity, account)
            owner = session.get(User, found.owner_id)
            contacts = session.scalars(select(Contact).where(Contact.account_id == found.id)).all()
            opportunities = session.scalars(
                select(Opportunity).where(
                    Opportunity.account_id == found.id, Opportunity.status == OpportunityStatus.OPEN
                )
            ).all()
            ctx.records.append(f"account:{found.id}")
            lines = [
                f"Account {found.name}" + (f" ({found.name_en})" if found.name_en else "")
                + f": {found.industry}, {found.segment}, {found.employees or '?'} employees, "
                f"{found.city or ''}; owner {owner.name if owner else '?'}.",
                "Contacts: " + ("; ".join(f"{c.name}, {c.title} ({c.buying_role})" for c in contacts) or "none"),
            ]
            for opp in opportunities:
                ctx.records.append(f"opportunity:{opp.id}")
                lines.append(
                    f"Open opportunity {opp.name}: {opp.amount:,.0f} {opp.currency}, stage {opp.stage.value}, "
                    f"expected close {opp.expected_close_date.isoformat()}"
                    + (f", competitor {opp.competitor}" if opp.competitor else "")
                )
            if not opportunities:
                lines.append("No open opportunities.")
            account_id, account_name = found.id, found.name
        history = app.retriever.search(
            identity, f"{account_name} budget decision competitor concern next step", k=3, account_id=account_id
        )
        if history:
            lines.append("Customer history:\n" + ctx.cite(history))
        return "\n".join(lines)

    return account_overview


def _my_pipeline(ctx: TurnContext) -> Callable[..., str]:
    app, identity = ctx.app, ctx.identity

    def my_pipeline() -> str:
        """The user's own open pipeline (a manager: their territory's): open opportunities by
        stage with amounts and expected close dates. Use it for "my pipeline", "my deals",
        "what can I close this quarter"."""
        with app.db.session() as session:
            rows = session.execute(
                select(Opportunity, Account.name)
                .join(Account, Opportunity.account_id == Account.id)
                .where(Opportunity.status == OpportunityStatus.OPEN, account_clause(identity))
                .order_by(Opportunity.expected_close_date)
            ).all()
        if not rows:
            return "No open opportunities are visible to this user."
        by_stage: dict[str, float] = {}
        lines = []
        for opp, account_name in rows:
            ctx.records.append(f"opportunity:{opp.id}")
            by_stage[opp.stage.value] = by_stage.get(opp.stage.value, 0.0) + opp.amount
            lines.append(
                f"- {account_name}: {opp.amount:,.0f} {opp.currency}, {opp.stage.value}, "
                f"closes {opp.expected_close_date.isoformat()}"
            )
        totals = ", ".join(f"{s.value} {by_stage[s.value]:,.0f}" for s in OPEN_STAGES if s.value in by_stage)
        return f"{len(rows)} open opportunities (by stage: {totals}); soonest to close:\n" + "\n".join(lines[:12])

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


def _what_if_parameters() -> list[str]:
    parameters = _insight("forecast", "WHAT_IF_PARAMETERS")
    return list(parameters.keys() if isinstance(parameters, dict) else parameters)


def _what_if_forecast(ctx: TurnContext) -> Callable[..., str]:
    def what_if_forecast(parameter: str, change: float, target: str = "", period: str = "") -> str:
        """What-if forecast: how the forecast moves if one driver changes (e.g. win rate up 5
        points, discount, deal size, cycle length). `parameter`: one of the what-if drivers;
        `change`: the change to apply (a number); `target`: territory, rep, account or product,
        empty for the user's own; `period`: a quarter like 2026-Q4, empty for the current one."""
        allowed = _what_if_parameters()
        if parameter not in allowed:
            raise NotFound(f"Unknown what-if driver '{parameter}'. Choose one of: {', '.join(allowed)}.")
        scope = _scope(ctx, target)
        ctx.records.append(f"forecast:{scope}")
        result = _insight("forecast", "forecast")(
            ctx.app, ctx.identity, scope, period=period or None, what_if={parameter: change}
        )
        return _render(result)

    return what_if_forecast


def _resonance_score(ctx: TurnContext) -> Callable[..., str]:
    def resonance_score(account: str) -> str:
        """Resonance score of one customer account: how engaged and receptive the customer is
        (0-100), with the signals behind it (meetings, replies, champions, competitor moves).
        `account`: the account's name or part of it."""
        result = _insight("resonance", "resonance")(ctx.app, ctx.identity, account)
        ctx.records.append(f"resonance:{account}")
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
        risks and rep performance. `territory`: its name (e.g. East China, 华东), empty for
        the user's own."""
        result = _insight("summary", "territory_summary")(ctx.app, ctx.identity, territory or None)
        ctx.records.append(f"territory:{territory or ctx.identity.territory_id}")
        return _render(result)

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
        return _render({"analysis": _plain(analysis), "coaching": _plain(coaching)})

    return call_coaching


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# name -> (factory, availability check). The order is the order the model sees.
_REGISTRY: dict[str, tuple[Callable[[TurnContext], Callable[..., str]], Callable[[App], bool]]] = {
    "search_knowledge": (_search_knowledge, lambda app: True),
    "account_overview": (_account_overview, lambda app: True),
    "my_pipeline": (_my_pipeline, lambda app: True),
    "forecast": (_forecast, lambda app: _installed("insights.forecast", "forecast")),
    "what_if_forecast": (
        _what_if_forecast,
        lambda app: _installed("insights.forecast", "forecast") and _installed("insights.forecast", "WHAT_IF_PARAMETERS"),
    ),
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
