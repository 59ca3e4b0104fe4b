"""The agent's tools: typed functions whose docstrings are written for the model.

The caller's identity is bound here, by the server, when the tools are built for a turn: it is
never an argument the model fills, so no prompt and no text injected into a document or a
transcript can make a tool act as someone else. Every tool checks permissions in its own
implementation; a denial comes back to the model as a short refusal it must pass on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool, StructuredTool
from sqlalchemy import select

from bot.errors import CopilotError
from bot.identity import Identity, account_clause, find_account
from bot.models import OPEN_STAGES, Account, Contact, Opportunity, OpportunityStatus, User
from retrieval import SearchHit

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["TurnContext", "build_tools", "TOOL_ARGUMENT", "PASSAGE_CHARS"]

logger = logging.getLogger(__name__)

PASSAGE_CHARS = 420  # per passage in the model's context: small prompts keep the local model fast


@dataclass
class TurnContext:
    """What one turn's tools share: who asks, and what the answer used (for citations, audit)."""

    app: App
    identity: Identity
    language: str
    hits: list[SearchHit] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

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
            # Stored chunks start with their document's title: don't repeat it.
            body = hit.text.split("\n", 1)[1] if hit.text.startswith(hit.title + "\n") else hit.text
            text = " ".join(body.split())[:PASSAGE_CHARS]
            lines.append(f"[{number}] {hit.title}: {text}")
        return "\n".join(lines)


# The single string argument each tool takes, for the schema-constrained local path.
TOOL_ARGUMENT: dict[str, str | None] = {
    "search_knowledge": "query",
    "account_overview": "account",
    "my_pipeline": None,
}


def _guarded(ctx: TurnContext, name: str, func: Callable[..., str]) -> Callable[..., str]:
    def run(**kwargs: Any) -> str:
        ctx.tool_calls.append({"name": name, "args": kwargs})
        try:
            return func(**kwargs)
        except CopilotError as exc:
            # Permission and lookup errors are answers for the user, not crashes.
            return f"REFUSED: {exc.user_message}"

    return run


def build_tools(ctx: TurnContext) -> list[BaseTool]:
    app, identity = ctx.app, ctx.identity

    def search_knowledge(query: str) -> str:
        """Search the sales knowledge base (playbooks, battle cards, product sheets, case studies,
        compliance FAQs, micro-lessons, and customer histories of accounts the user owns).
        Use it for any question about selling, products, competitors, pricing, objections or
        compliance. `query` is the question in the user's own words."""
        hits = app.retriever.search(identity, query, k=4)
        return ctx.cite(hits) if hits else "NO RESULTS"

    def account_overview(account: str) -> str:
        """Everything about one customer account the user may see: industry, size, owner,
        contacts and their buying roles, open opportunities, and the customer history (meeting
        notes, emails: budget, decision makers, competitors, concerns, next steps).
        `account` is the account's name or part of it."""
        with app.db.session() as session:
            found = find_account(session, identity, account)
            owner = session.get(User, found.owner_id)
            contacts = session.scalars(select(Contact).where(Contact.account_id == found.id)).all()
            opportunities = session.scalars(
                select(Opportunity).where(Opportunity.account_id == found.id, Opportunity.status == OpportunityStatus.OPEN)
            ).all()
            ctx.records.append(f"account:{found.id}")
            lines = [
                f"Account {found.name} ({found.name_en or found.name}): {found.industry}, {found.segment}, "
                f"{found.employees or '?'} employees, {found.city or ''}; owner {owner.name if owner else '?'}.",
                "Contacts: " + "; ".join(f"{c.name}, {c.title} ({c.buying_role})" for c in contacts),
            ]
            for opp in opportunities:
                ctx.records.append(f"opportunity:{opp.id}")
                lines.append(
                    f"Open opportunity {opp.name}: {opp.amount:,.0f} {opp.currency}, stage {opp.stage.value}, "
                    f"expected close {opp.expected_close_date.isoformat()}"
                )
            if not opportunities:
                lines.append("No open opportunities.")
            account_id = found.id
        history = app.retriever.search(identity, f"{account} budget decision competitor concern next step", k=3, account_id=account_id)
        if history:
            lines.append(ctx.cite(history))
        return "\n".join(lines)

    def my_pipeline() -> str:
        """The user's open pipeline: their open opportunities (a manager: the territory's), by
        stage, with amounts and expected close dates. Use it for "my pipeline", "my deals",
        "what should I close this quarter"."""
        with app.db.session() as session:
            rows = session.execute(
                select(Opportunity, Account.name)
                .join(Account, Opportunity.account_id == Account.id)
                .where(Opportunity.status == OpportunityStatus.OPEN, account_clause(identity))
                .order_by(Opportunity.expected_close_date)
            ).all()
        if not rows:
            return "NO OPEN OPPORTUNITIES visible to this user."
        by_stage: dict[str, float] = {}
        lines = []
        for opp, account_name in rows:
            ctx.records.append(f"opportunity:{opp.id}")
            by_stage[opp.stage.value] = by_stage.get(opp.stage.value, 0.0) + opp.amount
            lines.append(
                f"- {account_name}: {opp.amount:,.0f} {opp.currency}, {opp.stage.value}, closes {opp.expected_close_date.isoformat()}"
            )
        order = [s.value for s in OPEN_STAGES]
        totals = ", ".join(f"{s} {by_stage[s]:,.0f}" for s in order if s in by_stage)
        return f"{len(rows)} open opportunities as of {date.today().isoformat()} (by stage: {totals}):\n" + "\n".join(lines[:15])

    functions: list[Callable[..., str]] = [search_knowledge, account_overview, my_pipeline]
    return [_tool(ctx, f) for f in functions]


def _tool(ctx: TurnContext, func: Callable[..., str]) -> BaseTool:
    """A StructuredTool whose schema comes from the typed signature and whose body is guarded."""
    schema_tool = StructuredTool.from_function(func)
    return StructuredTool(
        name=schema_tool.name,
        description=schema_tool.description,
        args_schema=schema_tool.args_schema,
        func=_guarded(ctx, schema_tool.name, func),
    )
