"""An optional LLM judge: confirms or rejects each rule finding, with structured output.

The rules stay the source of evidence; the judge only answers "is this gap really there?"
for one finding at a time, so a small local model can do it. The composition root picks the
model (an OpenAI-compatible chat model, or the packaged local one) and hands it in.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Protocol

from pydantic import BaseModel, Field

from bot.core.text import shared_prompt
from transcription.findings import Finding
from transcription.turns import Turn

__all__ = [
    "ChatModelJudge",
    "GapJudge",
    "LocalJudge",
    "SchemaChooser",
    "StructuredChatModel",
    "Verdict",
    "apply_judge",
    "judge_prompt",
    "transcript_text",
]

logger = logging.getLogger(__name__)

REJECT_BELOW = 0.6  # a rejection less sure than this keeps the rule finding


class Verdict(BaseModel):
    present: bool = Field(description="True if the gap really occurs in this call")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure you are, 0 to 1")
    reason: str = Field(default="", description="One short sentence citing the turns")


class GapJudge(Protocol):
    def judge(self, finding: Finding, transcript: str) -> Verdict: ...


class _Invocable(Protocol):
    def invoke(self, prompt: str, /) -> object: ...


class StructuredChatModel(Protocol):
    """A chat model that can answer in a given schema (langchain's `with_structured_output`)."""

    def with_structured_output(self, schema: type[Verdict], /) -> _Invocable: ...


class SchemaChooser(Protocol):
    """A model whose output is constrained to a JSON schema (the packaged llama.cpp model)."""

    def choose(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> dict[str, Any]: ...


def judge_prompt(finding: Finding, transcript: str) -> str:
    evidence = "; ".join(f"[{e.role}] {e.quote or e.note}" for e in finding.evidence)
    return shared_prompt("gap_judge").format(
        gap=finding.type, summary=finding.summary, evidence=evidence, transcript=transcript
    )


def transcript_text(turns: list[Turn], limit: int = 6000) -> str:
    return "\n".join(f"{t.index} {t.speaker} [{t.start:.0f}s]: {t.text}" for t in turns)[:limit]


class ChatModelJudge:
    """Any chat model with structured output (OpenAI-compatible endpoints)."""

    def __init__(self, model: StructuredChatModel) -> None:
        self._structured = model.with_structured_output(Verdict)

    def judge(self, finding: Finding, transcript: str) -> Verdict:
        result = self._structured.invoke(judge_prompt(finding, transcript))
        return result if isinstance(result, Verdict) else Verdict.model_validate(result)


class LocalJudge:
    """The packaged local model, its output constrained to the Verdict JSON schema."""

    def __init__(self, model: SchemaChooser) -> None:
        self._model = model

    def judge(self, finding: Finding, transcript: str) -> Verdict:
        messages = [{"role": "user", "content": judge_prompt(finding, transcript)}]
        return Verdict.model_validate(self._model.choose(messages, Verdict.model_json_schema()))


def apply_judge(
    judge: GapJudge | None, findings: list[Finding], turns: list[Turn], reject_below: float = REJECT_BELOW
) -> list[Finding]:
    """Keep confirmed findings (confidence refined); drop confident rejections. A failing judge
    never loses a rule finding."""
    if judge is None:
        return findings
    text = transcript_text(turns)
    kept = []
    for finding in findings:
        try:
            verdict = judge.judge(finding, text)
        except Exception:
            logger.warning("gap judge failed on %s; keeping the rule finding", finding.type, exc_info=True)
            kept.append(finding)
            continue
        if not verdict.present and verdict.confidence >= reject_below:
            continue
        agreement = verdict.confidence if verdict.present else 1 - verdict.confidence
        kept.append(
            replace(
                finding,
                judged_by="llm",
                confidence=round((finding.confidence + agreement) / 2, 2),
                summary=f"{finding.summary} ({verdict.reason})" if verdict.reason else finding.summary,
            )
        )
    return kept
