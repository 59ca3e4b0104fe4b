"""Call recordings as a service: store the audio, analyse it in a persisted job, show the result
to those allowed to see it, coach, and map the team's gaps.

The audio is stored content-addressed under `<data_dir>/audio` before anything else happens and
is never deleted, also when analysis fails. A job interrupted by a crash is picked up again by
the job queue and starts over (the analysis is idempotent).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import delete, select

from bot.channel import Reply
from bot.errors import CopilotError, InvalidInput, NotFound, PermissionDenied
from bot.identity import Identity, call_clause, get_territory
from bot.jobs import JobContext, JobView
from bot.models import Call, CallStatus, GapFinding, Role, User, utcnow
from transcription._asr import Transcript, Turn, transcribe
from transcription._audio import decode
from transcription._gaps import GAP_NAMES, GAP_TYPES, Finding, detect_gaps
from transcription._metrics import compute_metrics

if TYPE_CHECKING:
    from bot.app import App

__all__ = ["CallService", "CallAnalysis", "GapHeatmap", "register_jobs", "render_heatmap_png", "summary_text", "JOB_KIND", "analyse_transcript"]

logger = logging.getLogger(__name__)

JOB_KIND = "call_analysis"
COACHING_FILE = Path(__file__).with_name("coaching.yaml")


@cache
def _coaching_texts() -> dict[str, Any]:
    return yaml.safe_load(COACHING_FILE.read_text(encoding="utf-8"))


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
    gaps: list[dict[str, Any]]

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
            "transcript": self.transcript,
            "metrics": self.metrics,
            "gaps": self.gaps,
        }


@dataclass(frozen=True)
class GapHeatmap:
    territory: str | None
    reps: list[str]
    gap_types: list[str]
    counts: list[list[int]]  # reps x gap types: calls showing the gap
    calls: list[int]  # calls analysed per rep
    since: str | None = None
    until: str | None = None

    @property
    def rates(self) -> list[list[float]]:
        return [[round(c / n, 3) if n else 0.0 for c in row] for row, n in zip(self.counts, self.calls)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "territory": self.territory,
            "reps": self.reps,
            "gap_types": self.gap_types,
            "counts": self.counts,
            "rates": self.rates,
            "calls": self.calls,
            "since": self.since,
            "until": self.until,
        }


def analyse_transcript(transcript: Transcript, settings) -> tuple[dict[str, Any], list[Finding]]:  # noqa: ANN001
    metrics = compute_metrics(transcript.turns, transcript.duration)
    return metrics.to_dict(), detect_gaps(transcript.turns, metrics, settings)


@dataclass
class CallService:
    app: App
    _listeners: list[Callable[[int], None]] = field(default_factory=list)

    # --- intake ------------------------------------------------------------------------------
    def submit(
        self,
        identity: Identity,
        path: Path,
        *,
        filename: str,
        source: str,
        notify: dict[str, str] | None = None,
    ) -> tuple[int, int]:
        if not identity.is_known:
            raise PermissionDenied("Only copilot users can upload calls. Ask your sales-ops admin for access.")
        data_dir = self.app.settings.audio_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        digest = _sha256(path)
        stored = data_dir / f"{digest}{Path(filename).suffix.lower() or '.audio'}"
        if not stored.exists():
            tmp = stored.with_suffix(stored.suffix + ".partial")
            shutil.copyfile(path, tmp)
            tmp.replace(stored)
        dedupe = f"call:{identity.user_id}:{digest}"
        with self.app.db.session() as session:
            existing = session.scalar(select(Call).where(Call.owner_id == identity.user_id, Call.audio_sha256 == digest))
            if existing is None:
                existing = Call(
                    owner_id=identity.user_id,
                    title=Path(filename).stem.replace("_", " "),
                    original_filename=filename,
                    audio_path=str(stored),
                    audio_sha256=digest,
                    source=source,
                    status=CallStatus.QUEUED,
                )
                session.add(existing)
                session.flush()
            call_id = existing.id
        job_id, _created = self.app.jobs.enqueue(
            JOB_KIND, {"call_id": call_id, "notify": notify}, created_by_id=identity.user_id, dedupe_key=dedupe
        )
        return call_id, job_id

    # --- the job -------------------------------------------------------------------------------
    def run_job(self, ctx: JobContext) -> dict[str, Any]:
        call_id = int(ctx.payload["call_id"])
        settings = self.app.settings
        with self.app.db.session() as session:
            call = session.get(Call, call_id)
            if call is None:
                raise NotFound(f"Call {call_id} no longer exists.")
            call.status = CallStatus.PROCESSING
            path, filename = Path(call.audio_path), call.original_filename
        try:
            ctx.progress(0.02, "decoding audio")
            audio = decode(path, max_seconds=settings.max_call_minutes * 60, filename=filename)
            ctx.progress(0.05, "transcribing")
            transcript = transcribe(audio, settings, progress=lambda f: ctx.progress(0.05 + 0.85 * f, "transcribing"))
            if not transcript.turns:
                raise InvalidInput(f"No speech was recognised in '{filename}'. Check that it is a recording of a call.")
            ctx.progress(0.92, "finding gaps")
            metrics, findings = analyse_transcript(transcript, settings)
        except CopilotError as exc:
            self._fail(call_id, exc.user_message)
            raise
        except Exception:
            self._fail(call_id, "An internal error stopped the analysis; the recording is kept and can be retried.")
            raise
        owner = self._owner_identity(call_id)
        with self.app.db.session() as session:
            call = session.get(Call, call_id)
            assert call is not None
            session.execute(delete(GapFinding).where(GapFinding.call_id == call_id))
            call.language = transcript.language
            call.duration_s = transcript.duration
            call.speakers_inferred = transcript.speakers_inferred
            call.transcript = [_turn_dict(t) for t in transcript.turns]
            call.metrics = metrics
            for finding in findings:
                session.add(
                    GapFinding(
                        call_id=call_id,
                        gap_type=finding.type,
                        severity=finding.severity,
                        confidence=finding.confidence,
                        evidence=[e.__dict__ for e in finding.evidence],
                        coaching=self._coaching_for(owner, finding.type, transcript.language),
                        judged_by=finding.judged_by,
                    )
                )
            call.status = CallStatus.DONE
            call.error = None
            call.analyzed_at = utcnow()
        return {"call_id": call_id, "gaps": [f.type for f in findings], "language": transcript.language}

    def _fail(self, call_id: int, reason: str) -> None:
        with self.app.db.session() as session:
            call = session.get(Call, call_id)
            if call is not None:
                call.status = CallStatus.FAILED
                call.error = reason

    def _owner_identity(self, call_id: int) -> Identity:
        with self.app.db.session() as session:
            call = session.get(Call, call_id)
            assert call is not None
            return Identity.from_user(session.get(User, call.owner_id))

    # --- coaching --------------------------------------------------------------------------------
    def _coaching_for(self, identity: Identity, gap_type: str, language: str) -> dict[str, Any]:
        texts = _coaching_texts().get(gap_type, {})
        lang = language if language in ("en", "zh") else "en"
        name_en, name_zh = GAP_NAMES[gap_type]
        lessons: list[dict[str, Any]] = []
        try:
            hits = self.app.retriever.search(identity, f"{name_en} {name_zh}", kinds=["lesson"], gap=gap_type, k=6, mode="dense")
        except CopilotError:
            logger.warning("lesson search failed for %s", gap_type, exc_info=True)
            hits = []
        seen: set[int] = set()
        for hit in sorted(hits, key=lambda h: h.language != lang):
            if hit.doc_id not in seen and len(lessons) < 3:
                seen.add(hit.doc_id)
                lessons.append({"doc_id": hit.doc_id, "title": hit.title, "source": hit.source, "language": hit.language})
        return {
            "talk_track": texts.get("talk_track", {}).get(lang, ""),
            "micro_lessons": lessons,
            "roleplay": texts.get("roleplay", {}).get(lang, ""),
        }

    def coaching(self, identity: Identity, call_id: int, gap_type: str | None = None) -> list[dict[str, Any]]:
        analysis = self.get_analysis(identity, call_id)
        return [
            {"type": g["type"], "name": g["name"], **g["coaching"]}
            for g in analysis.gaps
            if gap_type is None or g["type"] == gap_type
        ]

    def roleplay(self, identity: Identity, call_id: int, gap_type: str) -> dict[str, Any]:
        analysis = self.get_analysis(identity, call_id)
        gap = next((g for g in analysis.gaps if g["type"] == gap_type), None)
        if gap is None:
            raise NotFound(f"Call {call_id} shows no '{gap_type}' gap to practise.")
        opener = next((e["quote"] for e in gap["evidence"] if e.get("speaker") == "customer"), None)
        lang = analysis.language if analysis.language in ("en", "zh") else "en"
        return {
            "gap": gap_type,
            "instructions": gap["coaching"].get("roleplay", ""),
            "customer_opening": opener or (analysis.transcript[0]["text"] if analysis.transcript else ""),
            "model_answer": gap["coaching"].get("talk_track", ""),
            "language": lang,
        }

    # --- reading ---------------------------------------------------------------------------------
    def get_analysis(self, identity: Identity, call_id: int) -> CallAnalysis:
        with self.app.db.session() as session:
            call = session.scalar(select(Call).where(Call.id == call_id, call_clause(identity)))
            if call is None:
                if session.get(Call, call_id) is not None:
                    raise PermissionDenied(f"You don't have access to call {call_id}.")
                raise NotFound(f"No call {call_id}.")
            owner = session.get(User, call.owner_id)
            gaps = [
                {
                    "type": f.gap_type,
                    "name": GAP_NAMES[f.gap_type][1 if call.language == "zh" else 0],
                    "severity": f.severity,
                    "confidence": f.confidence,
                    "evidence": f.evidence,
                    "coaching": f.coaching or {},
                    "judged_by": f.judged_by,
                }
                for f in sorted(call.findings, key=lambda f: GAP_TYPES.index(f.gap_type))
            ]
            return CallAnalysis(
                call_id=call.id,
                title=call.title,
                owner=owner.handle if owner else "",
                status=call.status.value,
                error=call.error,
                language=call.language,
                duration=call.duration_s,
                speakers_inferred=call.speakers_inferred,
                transcript=call.transcript or [],
                metrics=call.metrics or {},
                gaps=gaps,
            )

    def list_calls(self, identity: Identity, limit: int = 20) -> list[dict[str, Any]]:
        with self.app.db.session() as session:
            rows = session.execute(
                select(Call, User.handle)
                .join(User, Call.owner_id == User.id)
                .where(call_clause(identity))
                .order_by(Call.id.desc())
                .limit(limit)
            ).all()
            return [
                {
                    "call_id": call.id,
                    "title": call.title,
                    "owner": handle,
                    "status": call.status.value,
                    "error": call.error,
                    "duration": call.duration_s,
                    "gaps": sorted(f.gap_type for f in call.findings),
                    "created_at": call.created_at.isoformat(),
                }
                for call, handle in rows
            ]

    # --- the team ----------------------------------------------------------------------------------
    def gap_heatmap(
        self,
        identity: Identity,
        territory: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> GapHeatmap:
        """Reps x gap types over a period: a manager's territory, any territory for an admin, a
        rep's own row only."""
        with self.app.db.session() as session:
            if identity.role is Role.REP:
                reps = [session.get(User, identity.user_id)]
                territory_name = None
            elif identity.role in (Role.MANAGER, Role.ADMIN):
                if territory is None and identity.role is Role.ADMIN:
                    reps = list(session.scalars(select(User).where(User.role == Role.REP).order_by(User.id)))
                    territory_name = None
                else:
                    found = get_territory(session, identity, territory)
                    reps = list(session.scalars(select(User).where(User.role == Role.REP, User.territory_id == found.id).order_by(User.id)))
                    territory_name = found.name
            else:
                raise PermissionDenied("Only managers, admins and reps (their own row) can see the gap heat map.")
            counts, calls = [], []
            for rep in reps:
                query = select(Call).where(Call.owner_id == rep.id, Call.status == CallStatus.DONE)
                if since:
                    query = query.where(Call.occurred_at >= since)
                if until:
                    query = query.where(Call.occurred_at <= until)
                rep_calls = list(session.scalars(query))
                calls.append(len(rep_calls))
                shown = [{f.gap_type for f in c.findings} for c in rep_calls]
                counts.append([sum(gap in s for s in shown) for gap in GAP_TYPES])
            return GapHeatmap(
                territory=territory_name,
                reps=[r.handle for r in reps],
                gap_types=list(GAP_TYPES),
                counts=counts,
                calls=calls,
                since=since.isoformat() if since else None,
                until=until.isoformat() if until else None,
            )

    def gap_progress(self, identity: Identity, rep_handle: str | None = None) -> dict[str, str]:
        """Per gap type, for one rep: 'open' if their latest call shows it, 'resolved' if an
        earlier call showed it and later calls stopped showing it."""
        with self.app.db.session() as session:
            handle = rep_handle or identity.handle
            rep = session.scalar(select(User).where(User.handle == handle))
            if rep is None:
                raise NotFound(f"No user '{handle}'.")
            calls = list(
                session.scalars(
                    select(Call).where(Call.owner_id == rep.id, Call.status == CallStatus.DONE, call_clause(identity)).order_by(Call.occurred_at, Call.id)
                )
            )
            if rep.id != identity.user_id and not calls and identity.role is not Role.ADMIN:
                raise PermissionDenied(f"You don't have access to {handle}'s calls.")
            progress: dict[str, str] = {}
            for gap in GAP_TYPES:
                shown = [gap in {f.gap_type for f in c.findings} for c in calls]
                if not any(shown):
                    continue
                last = max(i for i, s in enumerate(shown) if s)
                progress[gap] = "open" if last == len(shown) - 1 else "resolved"
            return progress


def render_heatmap_png(heatmap: GapHeatmap, path: Path) -> Path:
    """A reps x gap types chart of how often each gap shows (share of each rep's calls)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    # A CJK font where installed (Debian fonts-wqy-microhei), so Chinese names render.
    cjk = [f.name for f in font_manager.fontManager.ttflist if "WenQuanYi" in f.name or "Noto Sans CJK" in f.name]
    plt.rcParams["font.sans-serif"] = [*cjk[:1], "DejaVu Sans"]
    rates = heatmap.rates or [[0.0] * len(heatmap.gap_types)]
    figure, axes = plt.subplots(figsize=(12, 1.2 + 0.45 * max(len(heatmap.reps), 1)))
    image = axes.imshow(rates, cmap="Reds", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(len(heatmap.gap_types)), [GAP_NAMES[g][0] for g in heatmap.gap_types], rotation=35, ha="right", fontsize=8)
    axes.set_yticks(range(len(heatmap.reps)), [f"{r} ({n} calls)" for r, n in zip(heatmap.reps, heatmap.calls)], fontsize=9)
    for y, row in enumerate(heatmap.counts):
        for x, count in enumerate(row):
            if count:
                axes.text(x, y, str(count), ha="center", va="center", fontsize=8)
    axes.set_title(f"Dialogue gaps by rep{' - ' + heatmap.territory if heatmap.territory else ''} (share of calls)")
    figure.colorbar(image, ax=axes, fraction=0.02)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _turn_dict(turn: Turn) -> dict[str, Any]:
    return {"index": turn.index, "speaker": turn.speaker, "start": turn.start, "end": turn.end, "text": turn.text}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _format_result(app: App) -> Callable[[JobView, str], Reply]:
    def formatter(job: JobView, language: str) -> Reply:
        call_id = int(job.payload["call_id"])
        with app.db.session() as session:
            call = session.get(Call, call_id)
            owner = Identity.from_user(session.get(User, call.owner_id))
        analysis = app.calls.get_analysis(owner, call_id)
        return Reply(text=summary_text(analysis, language), job_id=job.id, records=[f"call:{call_id}"], language=language)

    return formatter


def summary_text(analysis: CallAnalysis, language: str) -> str:
    zh = language == "zh"
    m = analysis.metrics
    lines = [
        (f"通话《{analysis.title}》分析完成：时长 {analysis.duration or 0:.0f} 秒，销售讲话占比 {m.get('rep_talk_ratio', 0):.0%}，开放式提问 {m.get('open_questions', 0)} 个。"
         if zh else
         f"Call '{analysis.title}' analysed: {analysis.duration or 0:.0f} s, rep talk ratio {m.get('rep_talk_ratio', 0):.0%}, {m.get('open_questions', 0)} open questions.")
    ]
    if analysis.speakers_inferred:
        lines.append("（单声道录音：说话人是推断的。）" if zh else "(Mono recording: speakers were inferred.)")
    if not analysis.gaps:
        lines.append("没有发现明显的问题点，做得好！" if zh else "No gaps found. Well done!")
    for gap in analysis.gaps:
        evidence = gap["evidence"][0] if gap["evidence"] else None
        where = f" [{evidence['start']:.0f}s] “{evidence['quote'][:120]}”" if evidence else ""
        lines.append(f"• {gap['name']} ({gap['severity']}){where}")
        if gap["coaching"].get("talk_track"):
            lines.append(("  话术：" if zh else "  Try: ") + gap["coaching"]["talk_track"])
        for lesson in gap["coaching"].get("micro_lessons", [])[:1]:
            lines.append(("  微课：" if zh else "  Lesson: ") + lesson["title"])
    lines.append("回复“陪练”+问题类型即可开始角色扮演练习。" if zh else "Ask me to role-play any of these to practise.")
    return "\n".join(lines)


def register_jobs(app: App) -> None:
    app.jobs.register(JOB_KIND, lambda ctx: app.calls.run_job(ctx))
    app.copilot.register_result_formatter(JOB_KIND, _format_result(app))
