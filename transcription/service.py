"""Call recordings as a service: intake, the persisted analysis job, permission-checked reads,
coaching, role-play, gap progress and the manager's heat map.

The audio is stored content-addressed under `audio_dir` and never deleted (also when the
analysis fails), so an interrupted or failed job can always be run again. Who may see which
call is decided by `bot.core.access` alone.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.core import access
from bot.core.channel import Reply, ReplyTable
from bot.core.db import SessionFactory
from bot.core.errors import CopilotError, InvalidInput, NotFound, PermissionDenied, UnsupportedMedia
from bot.core.identity import Identity
from bot.core.jobs import JobContext, JobQueue, JobView
from bot.core.models import Call, CallStatus, GapFinding, User, utcnow
from bot.core.settings import Settings
from bot.core.text import t
from transcription.audio import SUPPORTED_SUFFIXES
from transcription.coaching import coaching_for, roleplay_for
from transcription.findings import Coaching, Evidence, Finding, RolePlay
from transcription.gaps import GAP_TYPES
from transcription.heatmap import GapHeatmap, gap_heatmap
from transcription.judge import GapJudge, apply_judge
from transcription.metrics import CallMetrics
from transcription.pipeline import ProgressFn, Transcript, analyze_turns, thresholds_from, transcribe_file
from transcription.ports import KnowledgeSearch
from transcription.semantic import SemanticDoors, semantic_doors
from transcription.turns import Turn

__all__ = [
    "CALL_JOB_KIND",
    "CallAnalysis",
    "CallService",
    "CallSummary",
    "GapCoaching",
    "GapProgress",
    "RecordingAnalysis",
]

CALL_JOB_KIND = "call_analysis"


@dataclass(frozen=True)
class RecordingAnalysis:
    """One recording transcribed and analysed, before it is stored."""

    transcript: Transcript
    metrics: CallMetrics
    findings: list[Finding]

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.transcript.language,
            "duration": self.transcript.duration,
            "speakers_inferred": self.transcript.speakers_inferred,
            "transcript": [turn.to_dict() for turn in self.transcript.turns],
            "metrics": self.metrics.to_dict(),
            "gaps": [finding.to_dict() for finding in self.findings],
        }


@dataclass(frozen=True)
class CallSummary:
    id: int
    title: str
    owner: str
    status: CallStatus
    language: str | None
    duration: float | None
    gap_types: list[str]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "owner": self.owner,
            "status": self.status.value,
            "language": self.language,
            "duration": self.duration,
            "gap_types": list(self.gap_types),
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class CallAnalysis:
    """A stored call: its transcript, metrics and gaps (with evidence and coaching). Metrics
    are None until the analysis is done."""

    call_id: int
    title: str
    owner: str
    status: CallStatus
    error: str | None
    language: str | None
    duration: float | None
    speakers_inferred: bool
    transcript: list[Turn]
    metrics: CallMetrics | None
    gaps: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "title": self.title,
            "owner": self.owner,
            "status": self.status.value,
            "error": self.error,
            "language": self.language,
            "duration": self.duration,
            "speakers_inferred": self.speakers_inferred,
            "transcript": [
                {"speaker": turn.speaker, "start": turn.start, "end": turn.end, "text": turn.text, "index": turn.index}
                for turn in self.transcript
            ],
            "metrics": self.metrics.to_dict() if self.metrics else {},
            "gaps": [gap.to_dict() for gap in self.gaps],
        }


@dataclass(frozen=True)
class GapCoaching:
    """The coaching for one gap of a call."""

    type: str
    summary: str
    coaching: Coaching

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "summary": self.summary, **self.coaching.to_dict()}


@dataclass(frozen=True)
class GapProgress:
    rep: str
    gap_type: str
    calls_with_gap: int
    last_seen_call: int | None
    later_calls_without: int
    resolved: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _gap_order(gap_type: str) -> int:
    return GAP_TYPES.index(gap_type) if gap_type in GAP_TYPES else len(GAP_TYPES)


def _finding_of(row: GapFinding) -> Finding:
    stored = dict(row.coaching or {})
    summary = str(stored.pop("summary", ""))  # the summary is kept with the coaching
    return Finding(
        type=row.gap_type,
        severity=row.severity,
        confidence=row.confidence,
        evidence=[Evidence.from_dict(e) for e in row.evidence or []],
        summary=summary,
        judged_by=row.judged_by,
        coaching=Coaching.from_dict(stored) if stored else None,
    )


def _analysis_of(call: Call) -> CallAnalysis:
    return CallAnalysis(
        call_id=call.id,
        title=call.title,
        owner=call.owner.handle,
        status=call.status,
        error=call.error,
        language=call.language,
        duration=call.duration_s,
        speakers_inferred=bool(call.speakers_inferred),
        transcript=[Turn.from_dict(row) for row in call.transcript or []],
        metrics=CallMetrics.from_dict(call.metrics) if call.metrics else None,
        gaps=[_finding_of(row) for row in sorted(call.findings, key=lambda f: _gap_order(f.gap_type))],
    )


class CallService:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionFactory,
        jobs: JobQueue,
        *,
        knowledge: KnowledgeSearch,
        judge: GapJudge | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.jobs = jobs
        self.knowledge = knowledge
        self.judge = judge
        self._doors: SemanticDoors | None = None
        self._doors_ready = False
        self._doors_lock = threading.Lock()

    # --- intake ----------------------------------------------------------------------------
    def submit(
        self,
        identity: Identity,
        path: Path,
        *,
        filename: str,
        source: str,
        notify: dict[str, str] | None = None,
    ) -> tuple[int, int]:
        """Store the audio, create the call and its analysis job: (call id, job id)."""
        if not identity.is_known:
            raise PermissionDenied("Only registered users can upload call recordings. Ask an admin to add you.")
        access.require_role(identity, *access.CALL_UPLOADERS, action="upload call recordings")
        path = Path(path)
        suffix = Path(filename).suffix.lower() or path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise UnsupportedMedia(
                f"'{filename}' is not a supported recording. Send wav, mp3, m4a, flac, ogg, webm or amr audio."
            )
        if not path.is_file() or path.stat().st_size == 0:
            raise InvalidInput(f"'{filename}' is empty. Please send the recording again.")
        sha = _sha256(path)
        stored = self.settings.audio_dir / f"{sha}{suffix}"
        if not stored.exists():
            self.settings.audio_dir.mkdir(parents=True, exist_ok=True)
            partial = stored.with_suffix(stored.suffix + ".partial")
            shutil.copyfile(path, partial)
            partial.replace(stored)
        with self.sessions() as session:
            call_id = session.scalar(
                select(Call.id).where(Call.owner_id == identity.user_id, Call.audio_sha256 == sha).order_by(Call.id)
            )
            if call_id is None:
                call = Call(
                    owner_id=identity.user_id,
                    # The territory the call is made in stays with it when the rep moves on.
                    territory_id=identity.territory_id,
                    title=Path(filename).stem[:200],
                    original_filename=filename[:255],
                    audio_path=str(stored),
                    audio_sha256=sha,
                    source=source,
                    status=CallStatus.QUEUED,
                )
                session.add(call)
                session.flush()
                call_id = call.id
        job_id, _created = self.jobs.enqueue(
            CALL_JOB_KIND,
            {"call_id": call_id, "notify": notify},
            created_by_id=identity.user_id,
            dedupe_key=f"{CALL_JOB_KIND}:{identity.user_id}:{sha}",
        )
        return call_id, job_id

    # --- the job ---------------------------------------------------------------------------
    def run_job(self, ctx: JobContext) -> dict[str, Any]:
        call_id = int(ctx.payload["call_id"])
        with self.sessions() as session:
            call = session.get(Call, call_id)
            if call is None:
                raise NotFound(f"Call {call_id} no longer exists.")
            call.status = CallStatus.PROCESSING
            call.error = None
            audio = Path(call.audio_path)
            label = call.original_filename
            owner = session.get(User, call.owner_id)
            identity = Identity.from_user(owner) if owner else None
        try:
            analysis = self.analyze_file(audio, identity=identity, progress=ctx.progress, label=label)
        except CopilotError as exc:
            self._mark_failed(call_id, exc.user_message)
            raise
        except Exception:
            self._mark_failed(
                call_id, "An internal error stopped the analysis. The recording is kept; try again later."
            )
            raise
        self._save(call_id, analysis)
        return {
            "call_id": call_id,
            "language": analysis.transcript.language,
            "gaps": [finding.type for finding in analysis.findings],
        }

    def analyze_file(
        self,
        audio: Path,
        *,
        identity: Identity | None = None,
        progress: ProgressFn | None = None,
        label: str | None = None,
    ) -> RecordingAnalysis:
        """Transcribe and analyse one recording (no database writes). Lessons are searched as
        `identity`; without one the coaching has none."""
        if not audio.is_file():
            raise NotFound("The stored recording is missing. Please upload it again.")
        transcript = transcribe_file(audio, self.settings, progress, label=label)
        metrics, findings = analyze_turns(
            transcript.turns, thresholds_from(self.settings), transcript.duration, self._semantic_doors()
        )
        findings = apply_judge(self.judge, findings, transcript.turns)
        coached = [
            replace(finding, coaching=coaching_for(self.knowledge, identity, finding, transcript.language))
            for finding in findings
        ]
        return RecordingAnalysis(transcript=transcript, metrics=metrics, findings=coached)

    def _semantic_doors(self) -> SemanticDoors | None:
        """The embedding cue matcher on the knowledge base's own encoder, built on the first
        analysis (so a process that never analyses a call never loads it)."""
        with self._doors_lock:
            if not self._doors_ready:
                self._doors = semantic_doors(lambda: self.knowledge.embedder, self.settings.gap_semantic_threshold)
                self._doors_ready = True
            return self._doors

    def _mark_failed(self, call_id: int, reason: str) -> None:
        with self.sessions() as session:
            call = session.get(Call, call_id)
            if call is not None:
                call.status = CallStatus.FAILED
                call.error = reason

    def _save(self, call_id: int, analysis: RecordingAnalysis) -> None:
        with self.sessions() as session:
            call = session.get(Call, call_id)
            if call is None:
                raise NotFound(f"Call {call_id} no longer exists.")
            session.execute(delete(GapFinding).where(GapFinding.call_id == call_id))  # a re-run replaces
            transcript = analysis.transcript
            call.language = transcript.language
            call.duration_s = transcript.duration
            call.speakers_inferred = transcript.speakers_inferred
            call.transcript = [turn.to_dict() for turn in transcript.turns]
            call.metrics = analysis.metrics.to_dict()
            call.status = CallStatus.DONE
            call.error = None
            call.analyzed_at = utcnow()
            for finding in analysis.findings:
                coaching = finding.coaching.to_dict() if finding.coaching else {}
                session.add(
                    GapFinding(
                        call_id=call_id,
                        gap_type=finding.type,
                        severity=finding.severity,
                        confidence=finding.confidence,
                        evidence=[e.to_dict() for e in finding.evidence],
                        coaching={**coaching, "summary": finding.summary},
                        judged_by=finding.judged_by,
                    )
                )

    # --- reads -----------------------------------------------------------------------------
    def _visible_call(self, session: Session, identity: Identity, call_id: int) -> Call:
        call = session.scalar(select(Call).where(Call.id == call_id, access.calls(identity).clause(Call)))
        if call is None:
            if session.get(Call, call_id) is not None:
                raise PermissionDenied(f"You don't have access to call {call_id}.")
            raise NotFound(f"There is no call {call_id}.")
        return call

    def get_analysis(self, identity: Identity, call_id: int) -> CallAnalysis:
        """The transcript, metrics and gaps (with evidence and coaching) of one call."""
        with self.sessions() as session:
            return _analysis_of(self._visible_call(session, identity, int(call_id)))

    def list_calls(self, identity: Identity, limit: int = 20) -> list[CallSummary]:
        """The caller's visible calls, newest first."""
        with self.sessions() as session:
            calls = session.scalars(
                select(Call)
                .where(access.calls(identity).clause(Call))
                .order_by(Call.created_at.desc(), Call.id.desc())
                .limit(limit)
            ).all()
            return [
                CallSummary(
                    id=c.id,
                    title=c.title,
                    owner=c.owner.handle,
                    status=c.status,
                    language=c.language,
                    duration=c.duration_s,
                    gap_types=[f.gap_type for f in sorted(c.findings, key=lambda f: _gap_order(f.gap_type))],
                    created_at=c.created_at,
                )
                for c in calls
            ]

    def coaching(self, identity: Identity, call_id: int, gap_type: str | None = None) -> list[GapCoaching]:
        """Talk track, micro-lessons and role-play for each gap of a call (or one gap)."""
        analysis = self.get_analysis(identity, call_id)
        items = [
            GapCoaching(type=gap.type, summary=gap.summary, coaching=gap.coaching)
            for gap in analysis.gaps
            if gap.coaching is not None and (gap_type is None or gap.type == gap_type)
        ]
        if gap_type is not None and not items:
            raise NotFound(f"Call {call_id} shows no '{gap_type}' gap.")
        return items

    def roleplay(self, identity: Identity, call_id: int, gap_type: str) -> RolePlay:
        """A practice scenario built from the call: the customer's own words open it."""
        analysis = self.get_analysis(identity, call_id)
        finding = next((gap for gap in analysis.gaps if gap.type == gap_type), None)
        if finding is None:
            raise NotFound(f"Call {call_id} shows no '{gap_type}' gap to practise.")
        return roleplay_for(finding, analysis.language or identity.language)

    def gap_progress(self, identity: Identity, rep: str | None = None) -> list[GapProgress]:
        """Per gap type: a gap is resolved for a rep once their later calls stop showing it."""
        with self.sessions() as session:
            handle = rep or identity.handle
            user = session.scalar(select(User).where(User.handle == handle))
            if user is None:
                raise NotFound(f"No user '{handle}'.")
            calls = session.scalars(
                select(Call)
                .where(Call.owner_id == user.id, Call.status == CallStatus.DONE, access.calls(identity).clause(Call))
                .order_by(Call.occurred_at, Call.id)
            ).all()
            # Calls the caller may see are theirs to read; with none, only their team's progress.
            if not calls and not access.team(identity).allows(user):
                raise PermissionDenied(f"You don't have access to {handle}'s calls.")
            out = []
            for gap in GAP_TYPES:
                flags = [any(f.gap_type == gap for f in c.findings) for c in calls]
                if not any(flags):
                    continue
                last = max(i for i, flag in enumerate(flags) if flag)
                later = len(flags) - last - 1
                out.append(GapProgress(handle, gap, sum(flags), calls[last].id, later, later >= 1))
            return out

    # --- the manager's heat map ------------------------------------------------------------
    def gap_heatmap(
        self,
        identity: Identity,
        territory: str | None = None,
        since: date | datetime | str | None = None,
        until: date | datetime | str | None = None,
    ) -> GapHeatmap:
        """Reps x gap types: how many analysed calls show each gap, and the share of calls."""
        with self.sessions() as session:
            return gap_heatmap(session, identity, territory, since, until)

    # --- telling the user -------------------------------------------------------------------
    def result_reply(self, job: JobView, language: str) -> Reply:
        """The finished analysis job told to the user who uploaded the call."""
        call_id = int(job.payload["call_id"])
        with self.sessions() as session:
            owner = session.scalar(select(User).join(Call, Call.owner_id == User.id).where(Call.id == call_id))
            if owner is None:
                raise NotFound(f"Call {call_id} no longer exists.")
            owner_identity = Identity.from_user(owner)
        reply = _format_analysis(self.get_analysis(owner_identity, call_id), language)
        reply.job_id = job.id
        return reply


def _format_analysis(analysis: CallAnalysis, language: str) -> Reply:
    metrics = analysis.metrics
    title = t(
        "call.result.title",
        language,
        title=analysis.title,
        duration=f"{analysis.duration or 0:.0f}",
        language=analysis.language or "?",
    )
    lines = [title]
    if metrics is not None:
        lines.append(
            t(
                "call.result.metrics",
                language,
                ratio=f"{metrics.rep_talk_ratio:.0%}",
                monologue=f"{metrics.longest_monologue_s:.0f}",
                open=str(metrics.open_question_turns),
                patience=f"{metrics.patience_s:.1f}",
            )
        )
    if analysis.speakers_inferred:
        lines.append(t("call.result.speakers_inferred", language))
    lines.append(t("call.result.gaps" if analysis.gaps else "call.result.no_gaps", language))
    rows = []
    for gap in analysis.gaps:
        quotes = [e for e in gap.evidence if e.quote]
        where = " / ".join(f"[{e.start:.0f}s] “{e.quote[:90]}”" for e in quotes[:2])
        lines.append(f"• {gap.type} ({gap.severity}, {gap.confidence:.2f}): {gap.summary} {where}".rstrip())
        if gap.coaching is not None and gap.coaching.talk_track:
            lines.append(f"   {t('call.result.talk_track', language)}: {gap.coaching.talk_track}")
        if gap.coaching is not None and gap.coaching.lessons:
            titles = "; ".join(lesson.title for lesson in gap.coaching.lessons)
            lines.append(f"   {t('call.result.lessons', language)}: {titles}")
        rows.append((gap.type, gap.severity, gap.confidence, where))
    if analysis.gaps:
        lines.append(t("call.result.practice", language, gap=analysis.gaps[0].type, call=analysis.call_id))
    tables = [ReplyTable(("gap", "severity", "confidence", "evidence"), tuple(rows), title="gaps")] if rows else []
    return Reply(
        text="\n".join(lines), kind="answer", tables=tables, records=[f"call:{analysis.call_id}"], language=language
    )
