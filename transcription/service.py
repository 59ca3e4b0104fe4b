"""Call recordings as a service: intake, the persisted analysis job, permission-checked reads,
coaching, role-play, gap progress and the manager's heat map.

The audio is stored content-addressed under `audio_dir` and never deleted (also when the
analysis fails), so an interrupted or failed job can always be run again.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from bot.core.channel import Reply, ReplyTable
from bot.core.errors import CopilotError, InvalidInput, NotFound, PermissionDenied, UnsupportedMedia
from bot.core.identity import Identity
from bot.core import access
from bot.core.access import find_territory as get_territory, require_role
from bot.core.models import Call, CallStatus, GapFinding, Role, User, utcnow
from transcription.audio import SUPPORTED_SUFFIXES
from transcription.gaps import GAP_TYPES, Evidence, Finding
from transcription.heatmap import GapHeatmap, render_heatmap_png
from transcription.turns import Turn

if TYPE_CHECKING:
    from bot.app import App
    from bot.core.jobs import JobContext, JobView
    from transcription.coaching import RolePlay

__all__ = [
    "CallService",
    "CallAnalysis",
    "CallSummary",
    "GapProgress",
    "GapHeatmap",
    "render_heatmap_png",
    "register_jobs",
    "CALL_JOB_KIND",
]

logger = logging.getLogger(__name__)

CALL_JOB_KIND = "call_analysis"
SUBMITTERS = (Role.REP, Role.MANAGER, Role.ADMIN)


@dataclass(frozen=True)
class CallSummary:
    id: int
    title: str
    owner: str
    status: str
    language: str | None
    duration: float | None
    gap_types: list[str]
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CallAnalysis:
    call_id: int
    title: str
    owner: str
    status: str
    error: str | None
    language: str | None
    duration: float | None
    speakers_inferred: bool
    transcript: list[dict[str, Any]]
    metrics: dict[str, Any]
    gaps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "title": self.title,
            "owner": self.owner,
            "status": self.status,
            "error": self.error,
            "language": self.language,
            "duration": self.duration,
            "speakers_inferred": self.speakers_inferred,
            "transcript": [
                {"speaker": t["speaker"], "start": t["start"], "end": t["end"], "text": t["text"], "index": t.get("index")}
                for t in self.transcript
            ],
            "metrics": self.metrics,
            "gaps": self.gaps,
        }


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


def _as_datetime(value: date | datetime | str | None, end: bool = False) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.combine(value, time.max if end else time.min, tzinfo=timezone.utc)


class CallService:
    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings

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
        require_role(identity, *SUBMITTERS, action="upload call recordings")
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
        with self.app.db.session() as session:
            call_id = session.scalar(
                select(Call.id).where(Call.owner_id == identity.user_id, Call.audio_sha256 == sha).order_by(Call.id)
            )
            if call_id is None:
                call = Call(
                    owner_id=identity.user_id,
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
        job_id, _created = self.app.jobs.enqueue(
            CALL_JOB_KIND,
            {"call_id": call_id, "notify": notify},
            created_by_id=identity.user_id,
            dedupe_key=f"{CALL_JOB_KIND}:{identity.user_id}:{sha}",
        )
        return call_id, job_id

    # --- the job ---------------------------------------------------------------------------
    def run_job(self, ctx: JobContext) -> dict[str, Any]:
        call_id = int(ctx.payload["call_id"])
        with self.app.db.session() as session:
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
            self._mark_failed(call_id, "An internal error stopped the analysis. The recording is kept; try again later.")
            raise
        self._save(call_id, analysis)
        return {"call_id": call_id, "language": analysis["language"], "gaps": [g["type"] for g in analysis["gaps"]]}

    def analyze_file(
        self, audio: Path, *, identity: Identity | None = None, progress: Any = None, label: str | None = None
    ) -> dict[str, Any]:
        """Transcribe and analyse one recording (no database writes)."""
        from transcription.coaching import coaching_for
        from transcription.judge import apply_judge, build_judge
        from transcription.pipeline import analyze_turns, semantic_doors_from, thresholds_from, transcribe_file

        if not audio.is_file():
            raise NotFound("The stored recording is missing. Please upload it again.")
        transcript = transcribe_file(audio, self.settings, progress, label=label)
        metrics, findings = analyze_turns(
            transcript.turns, thresholds_from(self.settings), transcript.duration, semantic_doors_from(self.settings)
        )
        findings = apply_judge(build_judge(self.app), findings, transcript.turns)
        for finding in findings:
            finding.coaching = coaching_for(self.app, identity, finding, transcript.language)
        return {
            "language": transcript.language,
            "duration": transcript.duration,
            "speakers_inferred": transcript.speakers_inferred,
            "transcript": [t.to_dict() for t in transcript.turns],
            "metrics": metrics.to_dict(),
            "gaps": [f.to_dict() for f in findings],
            "findings": findings,
        }

    def _mark_failed(self, call_id: int, reason: str) -> None:
        with self.app.db.session() as session:
            call = session.get(Call, call_id)
            if call is not None:
                call.status = CallStatus.FAILED
                call.error = reason

    def _save(self, call_id: int, analysis: dict[str, Any]) -> None:
        with self.app.db.session() as session:
            call = session.get(Call, call_id)
            session.execute(delete(GapFinding).where(GapFinding.call_id == call_id))  # a re-run replaces
            call.language = analysis["language"]
            call.duration_s = analysis["duration"]
            call.speakers_inferred = analysis["speakers_inferred"]
            call.transcript = analysis["transcript"]
            call.metrics = analysis["metrics"]
            call.status = CallStatus.DONE
            call.error = None
            call.analyzed_at = utcnow()
            for finding in analysis["findings"]:
                session.add(
                    GapFinding(
                        call_id=call_id,
                        gap_type=finding.type,
                        severity=finding.severity,
                        confidence=finding.confidence,
                        evidence=[e.to_dict() for e in finding.evidence],
                        coaching={**finding.coaching, "summary": finding.summary},
                        judged_by=finding.judged_by,
                    )
                )

    # --- reads -----------------------------------------------------------------------------
    def _visible_call(self, session, identity: Identity, call_id: int) -> Call:
        call = session.scalar(select(Call).where(Call.id == call_id, access.calls(identity).clause(Call)))
        if call is None:
            if session.get(Call, call_id) is not None:
                raise PermissionDenied(f"You don't have access to call {call_id}.")
            raise NotFound(f"There is no call {call_id}.")
        return call

    def get_analysis(self, identity: Identity, call_id: int) -> CallAnalysis:
        """The transcript, metrics and gaps (with evidence and coaching) of one call."""
        with self.app.db.session() as session:
            call = self._visible_call(session, identity, int(call_id))
            gaps = [
                {
                    "type": f.gap_type,
                    "severity": f.severity,
                    "confidence": f.confidence,
                    "summary": (f.coaching or {}).get("summary", ""),
                    "judged_by": f.judged_by,
                    "evidence": f.evidence,
                    "coaching": {k: v for k, v in (f.coaching or {}).items() if k != "summary"},
                }
                for f in sorted(call.findings, key=lambda f: GAP_TYPES.index(f.gap_type) if f.gap_type in GAP_TYPES else 99)
            ]
            return CallAnalysis(
                call_id=call.id,
                title=call.title,
                owner=call.owner.handle,
                status=call.status.value,
                error=call.error,
                language=call.language,
                duration=call.duration_s,
                speakers_inferred=bool(call.speakers_inferred),
                transcript=list(call.transcript or []),
                metrics=dict(call.metrics or {}),
                gaps=gaps,
            )

    def list_calls(self, identity: Identity, limit: int = 20) -> list[CallSummary]:
        """The caller's visible calls, newest first."""
        with self.app.db.session() as session:
            calls = session.scalars(
                select(Call).where(access.calls(identity).clause(Call)).order_by(Call.created_at.desc(), Call.id.desc()).limit(limit)
            ).all()
            return [
                CallSummary(
                    id=c.id,
                    title=c.title,
                    owner=c.owner.handle,
                    status=c.status.value,
                    language=c.language,
                    duration=c.duration_s,
                    gap_types=[f.gap_type for f in c.findings],
                    created_at=c.created_at.isoformat() if c.created_at else "",
                )
                for c in calls
            ]

    def coaching(self, identity: Identity, call_id: int, gap_type: str | None = None) -> list[dict[str, Any]]:
        """Talk track, micro-lessons and role-play for each gap of a call (or one gap)."""
        analysis = self.get_analysis(identity, call_id)
        items = [
            {"type": g["type"], "summary": g["summary"], **g["coaching"]}
            for g in analysis.gaps
            if gap_type is None or g["type"] == gap_type
        ]
        if gap_type is not None and not items:
            raise NotFound(f"Call {call_id} shows no '{gap_type}' gap.")
        return items

    def roleplay(self, identity: Identity, call_id: int, gap_type: str) -> RolePlay:
        """A practice scenario built from the call: the customer's own words open it."""
        from transcription.coaching import roleplay_for

        analysis = self.get_analysis(identity, call_id)
        gap = next((g for g in analysis.gaps if g["type"] == gap_type), None)
        if gap is None:
            raise NotFound(f"Call {call_id} shows no '{gap_type}' gap to practise.")
        finding = Finding(
            gap["type"], gap["severity"], gap["confidence"],
            [Evidence(e.get("turn"), e["start"], e["end"], e.get("quote", ""), e.get("speaker"), e.get("role", "door"), e.get("note", "")) for e in gap["evidence"]],
            gap["summary"],
        )
        return roleplay_for(finding, analysis.language or identity.language)

    def gap_progress(self, identity: Identity, rep: str | None = None) -> list[GapProgress]:
        """Per gap type: a gap is resolved for a rep once their later calls stop showing it."""
        with self.app.db.session() as session:
            handle = rep or identity.handle
            user = session.scalar(select(User).where(User.handle == handle))
            if user is None:
                raise NotFound(f"No user '{handle}'.")
            calls = session.scalars(
                select(Call)
                .where(Call.owner_id == user.id, Call.status == CallStatus.DONE, access.calls(identity).clause(Call))
                .order_by(Call.occurred_at, Call.id)
            ).all()
            if not calls and user.id != identity.user_id and identity.role is not Role.ADMIN:
                if identity.role is not Role.MANAGER or identity.territory_id != user.territory_id:
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
        if identity.role not in (Role.MANAGER, Role.ADMIN, Role.REP):
            raise PermissionDenied("Only managers (for their territory) and admins can see the gap heat map.")
        start, end = _as_datetime(since), _as_datetime(until, end=True)
        with self.app.db.session() as session:
            if identity.role is Role.ADMIN and territory is None:
                terr = None
            else:
                terr = get_territory(session, identity, territory)
            users = select(User).where(User.role == Role.REP, User.active.is_(True))
            if terr is not None:
                users = users.where(User.territory_id == terr.id)
            if identity.role is Role.REP:
                users = users.where(User.id == identity.user_id)  # a rep sees only their own row
            reps = session.scalars(users.order_by(User.handle)).all()
            window = [Call.status == CallStatus.DONE]
            if start:
                window.append(Call.occurred_at >= start)
            if end:
                window.append(Call.occurred_at <= end)
            calls_per = dict(
                session.execute(select(Call.owner_id, func.count(Call.id)).where(*window).group_by(Call.owner_id)).all()
            )
            counts_per: dict[tuple[int, str], int] = {
                (owner, gap): n
                for owner, gap, n in session.execute(
                    select(Call.owner_id, GapFinding.gap_type, func.count(func.distinct(Call.id)))
                    .join(GapFinding, GapFinding.call_id == Call.id)
                    .where(*window)
                    .group_by(Call.owner_id, GapFinding.gap_type)
                ).all()
            }
            counts = [[counts_per.get((r.id, g), 0) for g in GAP_TYPES] for r in reps]
            calls = [int(calls_per.get(r.id, 0)) for r in reps]
            rates = [[round(c / n, 3) if n else 0.0 for c in row] for row, n in zip(counts, calls)]
            return GapHeatmap(
                territory=terr.name if terr else None,
                since=start.date().isoformat() if start else None,
                until=end.date().isoformat() if end else None,
                reps=[r.handle for r in reps],
                rep_names=[r.name for r in reps],
                gap_types=list(GAP_TYPES),
                calls=calls,
                counts=counts,
                rates=rates,
            )

    def render_heatmap_png(self, heatmap: GapHeatmap, path: Path) -> Path:
        return render_heatmap_png(heatmap, path)


# --- wiring ---------------------------------------------------------------------------------
_TEXT = {
    "en": {
        "title": "Call analysis: {title} ({duration:.0f}s, {language})",
        "metrics": "Rep talk ratio {ratio:.0%} · longest monologue {mono:.0f}s · open questions {open} · patience {patience:.1f}s",
        "none": "No dialogue gaps found. Well done!",
        "gaps": "Gaps found:",
        "track": "Try",
        "lessons": "Lessons",
        "practice": "Practise it: ask me to role-play \"{gap}\" for call {call}.",
        "inferred": "(single-channel recording: speakers were inferred)",
    },
    "zh": {
        "title": "通话分析：{title}（{duration:.0f}秒，{language}）",
        "metrics": "销售发言占比 {ratio:.0%} · 最长独白 {mono:.0f}秒 · 开放式问题 {open} 个 · 耐心 {patience:.1f}秒",
        "none": "没有发现对话缺口，做得很好！",
        "gaps": "发现的缺口：",
        "track": "可以这样说",
        "lessons": "微课",
        "practice": "练一练：让我为通话 {call} 扮演“{gap}”场景。",
        "inferred": "（单声道录音：说话人为推断）",
    },
}


def format_analysis(analysis: CallAnalysis, language: str) -> Reply:
    words = _TEXT["zh" if language == "zh" else "en"]
    m = analysis.metrics
    lines = [
        words["title"].format(title=analysis.title, duration=analysis.duration or 0, language=analysis.language or "?"),
        words["metrics"].format(
            ratio=m.get("rep_talk_ratio", 0), mono=m.get("longest_monologue_s", 0), open=m.get("open_question_turns", 0), patience=m.get("patience_s", 0)
        ),
    ]
    if analysis.speakers_inferred:
        lines.append(words["inferred"])
    if not analysis.gaps:
        lines.append(words["none"])
    else:
        lines.append(words["gaps"])
    rows = []
    for gap in analysis.gaps:
        quotes = [e for e in gap["evidence"] if e.get("quote")]
        where = " / ".join(f"[{e['start']:.0f}s] “{e['quote'][:90]}”" for e in quotes[:2])
        lines.append(f"• {gap['type']} ({gap['severity']}, {gap['confidence']:.2f}): {gap['summary']} {where}".rstrip())
        coaching = gap.get("coaching") or {}
        if coaching.get("talk_track"):
            lines.append(f"   {words['track']}: {coaching['talk_track']}")
        if coaching.get("lessons"):
            lines.append(f"   {words['lessons']}: " + "; ".join(l["title"] for l in coaching["lessons"]))
        rows.append((gap["type"], gap["severity"], gap["confidence"], where))
    if analysis.gaps:
        lines.append(words["practice"].format(gap=analysis.gaps[0]["type"], call=analysis.call_id))
    tables = [ReplyTable(("gap", "severity", "confidence", "evidence"), tuple(rows), title="gaps")] if rows else []
    return Reply(text="\n".join(lines), kind="answer", tables=tables, records=[f"call:{analysis.call_id}"], language=language)


def register_jobs(app: App) -> None:
    """Register the analysis job and how its result is told to the user (called by App)."""

    def handler(ctx: JobContext) -> dict[str, Any] | None:
        return app.calls.run_job(ctx)

    def formatter(job: JobView, language: str) -> Reply:
        call_id = int(job.payload["call_id"])
        with app.db.session() as session:
            owner = session.scalar(select(User).join(Call, Call.owner_id == User.id).where(Call.id == call_id))
            identity = Identity.from_user(owner)
        reply = format_analysis(app.calls.get_analysis(identity, call_id), language)
        reply.job_id = job.id
        return reply

    app.jobs.register(CALL_JOB_KIND, handler)
    app.copilot.register_result_formatter(CALL_JOB_KIND, formatter)


__all__ += ["format_analysis"]
