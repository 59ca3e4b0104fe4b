"""An optional LLM judge: confirms or rejects each rule finding, with structured output.

The rules stay the source of evidence; the judge only answers "is this gap really there?"
for one finding at a time, so a small local model can do it."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from pydantic import BaseModel, Field

from transcription.gaps import Finding
from transcription.turns import Turn

__all__ = ["Verdict", "GapJudge", "ChatModelJudge", "LocalJudge", "apply_judge", "build_judge", "judge_prompt"]

logger = logging.getLogger(__name__)


class Verdict(BaseModel):
    present: bool = Field(description="True if the gap really occurs in this call")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure you are, 0 to 1")
    reason: str = Field(default="", description="One short sentence citing the turns")


class GapJudge(Protocol):
    def judge(self, finding: Finding, transcript: str) -> Verdict: ...


def judge_prompt(finding: Finding, transcript: str) -> str:
    evidence = "; ".join(f"[{e.role}] {e.quote or e.note}" for e in finding.evidence)
    return (
        "You review a sales call transcript for one coaching gap.\n"
        f"Gap: {finding.type} - {finding.summary}\nRule evidence: {evidence}\n\n"
        f"Transcript:\n{transcript}\n\nIs this gap really present? Answer with present, confidence, reason."
    )


def transcript_text(turns: list[Turn], limit: int = 6000) -> str:
    return "\n".join(f"{t.index} {t.speaker} [{t.start:.0f}s]: {t.text}" for t in turns)[:limit]


class ChatModelJudge:
    """Any langchain chat model with structured output (OpenAI-compatible endpoints)."""

    def __init__(self, model: Any) -> None:
        self._structured = model.with_structured_output(Verdict)

    def judge(self, finding: Finding, transcript: str) -> Verdict:
        result = self._structured.invoke(judge_prompt(finding, transcript))
        return result if isinstance(result, Verdict) else Verdict.model_validate(result)


class LocalJudge:
    """The packaged llama.cpp model, its output constrained to the Verdict JSON schema."""

    def __init__(self, local_llm: Any) -> None:
        self._llm = local_llm

    def judge(self, finding: Finding, transcript: str) -> Verdict:
        data = self._llm.choose([{"role": "user", "content": judge_prompt(finding, transcript)}], Verdict.model_json_schema())
        return Verdict.model_validate(data)


def apply_judge(judge: GapJudge | None, findings: list[Finding], turns: list[Turn], reject_below: float = 0.6) -> list[Finding]:
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
        finding.judged_by = "llm"
        finding.confidence = round((finding.confidence + (verdict.confidence if verdict.present else 1 - verdict.confidence)) / 2, 2)
        if verdict.reason:
            finding.summary = f"{finding.summary} ({verdict.reason})"
        kept.append(finding)
    return kept


def build_judge(app: Any) -> GapJudge | None:
    settings = app.settings
    if settings.gap_llm_judge == "off" or settings.llm_provider == "none":
        return None
    if settings.llm_provider == "local" and settings.gap_llm_judge != "always":
        return None
    try:
        if settings.llm_provider == "openai":
            from integrations.llm import openai_chat_model

            return ChatModelJudge(openai_chat_model(settings))
        from integrations.llm import LocalLLM

        return LocalJudge(LocalLLM(settings))
    except Exception:
        logger.warning("no LLM judge available; rules only", exc_info=True)
        return None
