"""Tool-choice evaluation: does the configured model pick the right tool for labelled requests?

The labelled set (`agent_eval.jsonl`, Chinese and English) names the tool(s) that serve each
request. Every tool of the catalogue is offered; tools are chosen, never run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.errors import ConfigurationError
from bot.core.identity import Identity
from bot.core.models import Role
from bot.core.ports import AnswerRequest
from chains.agent import CopilotAgent
from chains.tools import tool_catalogue

__all__ = ["EVAL_SET", "EvalCase", "EvalResult", "evaluate_tool_choice", "load_cases"]

EVAL_SET = Path(__file__).with_name("agent_eval.jsonl")


@dataclass(frozen=True)
class EvalCase:
    text: str
    language: str
    expected: tuple[str, ...]
    history: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EvalResult:
    model: str
    tool_accuracy: float
    n: int
    seconds: float
    misses: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tool_accuracy": round(self.tool_accuracy, 4),
            "n": self.n,
            "seconds": round(self.seconds, 1),
            "misses": self.misses,
        }


def load_cases(path: Path = EVAL_SET) -> list[EvalCase]:
    cases = []
    known = set(tool_catalogue())
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        unknown = set(row["expected"]) - known
        if unknown:
            raise ValueError(f"eval case names unknown tools {unknown}: {row['text']}")
        cases.append(
            EvalCase(
                text=row["text"],
                language=row["language"],
                expected=tuple(row["expected"]),
                history=tuple((role, content) for role, content in row.get("history", [])),
            )
        )
    return cases


def evaluate_tool_choice(
    agent: CopilotAgent,
    cases: list[EvalCase] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Ask the agent's model to choose a tool for each case (tools are not run)."""
    if agent.local is None and agent.chat_model is None:
        raise ConfigurationError("The agent eval needs a language model: set COPILOT_LLM_PROVIDER to local or openai.")
    cases = cases if cases is not None else load_cases()
    # An admin-shaped identity that is no real user: choosing a tool reads no one's data.
    evaluator = Identity(user_id=None, handle="eval", name="eval", role=Role.ADMIN)
    _ctx, tools = agent.turn_tools(evaluator, "en")
    hits = 0
    misses: list[dict[str, Any]] = []
    started = time.perf_counter()
    for done, case in enumerate(cases, 1):
        request = AnswerRequest(identity=evaluator, text=case.text, language=case.language, history=list(case.history))
        chosen, args = agent.choose(request, tools)
        if chosen in case.expected:
            hits += 1
        else:
            misses.append({"text": case.text, "expected": list(case.expected), "chosen": chosen, "args": args})
        if on_progress:
            on_progress(done, len(cases))
    return EvalResult(
        model=agent.model_name,
        tool_accuracy=hits / len(cases) if cases else 0.0,
        n=len(cases),
        seconds=time.perf_counter() - started,
        misses=misses,
    )
