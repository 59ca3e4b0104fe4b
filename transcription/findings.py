"""What a call analysis finds, as typed values: a gap with its evidence and its coaching.

`to_dict()` gives the JSON the CLI prints and the database stores; `from_dict()` reads it
back, so a stored analysis rebuilds into the same values it was saved from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeAlias

__all__ = ["Coaching", "Evidence", "EvidenceRole", "Finding", "Lesson", "RolePlay"]

EvidenceRole: TypeAlias = Literal["door", "rep", "absence", "metric"]
"""door: the customer opened it; rep: what the rep did; absence: what never happened; metric: a figure."""


@dataclass(frozen=True)
class Evidence:
    turn: int | None
    start: float
    end: float
    quote: str
    speaker: str | None = None
    role: EvidenceRole = "door"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "quote": self.quote,
            "speaker": self.speaker,
            "role": self.role,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        return cls(
            turn=data.get("turn"),
            start=float(data["start"]),
            end=float(data["end"]),
            quote=data.get("quote", ""),
            speaker=data.get("speaker"),
            role=data.get("role", "door"),
            note=data.get("note", ""),
        )


@dataclass(frozen=True)
class Lesson:
    """A micro-lesson from the knowledge base: its title, file name and opening text."""

    title: str
    source: str
    snippet: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class RolePlay:
    gap_type: str
    language: str
    persona: str
    opening_line: str
    goal: str
    success_criteria: list[str]
    instructions: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolePlay:
        return cls(
            gap_type=data["gap_type"],
            language=data["language"],
            persona=data["persona"],
            opening_line=data["opening_line"],
            goal=data["goal"],
            success_criteria=list(data.get("success_criteria", [])),
            instructions=data["instructions"],
        )


@dataclass(frozen=True)
class Coaching:
    """What to do better about one gap: what to say, what to read, what to practise."""

    talk_track: str
    lessons: list[Lesson]
    roleplay: RolePlay | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "talk_track": self.talk_track,
            "lessons": [lesson.to_dict() for lesson in self.lessons],
            "roleplay": self.roleplay.to_dict() if self.roleplay else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Coaching:
        play = data.get("roleplay")
        return cls(
            talk_track=data.get("talk_track", ""),
            lessons=[
                Lesson(item["title"], item["source"], item.get("snippet", "")) for item in data.get("lessons", [])
            ],
            roleplay=RolePlay.from_dict(play) if play else None,
        )


@dataclass(frozen=True)
class Finding:
    """One dialogue gap in one call. `coaching` is None until coaching is attached."""

    type: str
    severity: str
    confidence: float
    evidence: list[Evidence]
    summary: str
    judged_by: str = "rules"  # rules | llm
    coaching: Coaching | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "severity": self.severity,
            "confidence": round(self.confidence, 2),
            "summary": self.summary,
            "judged_by": self.judged_by,
            "evidence": [e.to_dict() for e in self.evidence],
            "coaching": self.coaching.to_dict() if self.coaching else {},
        }
