"""The call service on a real database and job queue, with a scripted transcript and a fake
knowledge base: who sees which call (also after a rep moves), the heat map, the finished-job
reply, and where coaching lessons come from. The real audio path is in tests/integration."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from bot.core.db import Database
from bot.core.errors import InvalidInput, NotFound, PermissionDenied
from bot.core.identity import Identity, resolve_user
from bot.core.models import Call, CallStatus, JobStatus, Territory, User
from bot.core.settings import Settings
from bot.core.text import t
from bot.demo.org import build_org
from bot.infra.jobs import DatabaseJobQueue
from tests.conftest import DEMO_DAY
from transcription import Finding, Turn, compute_metrics
from transcription.coaching import lessons_for
from transcription.findings import Coaching, Evidence, RolePlay
from transcription.heatmap import gap_heatmap
from transcription.metrics import CallMetrics
from transcription.pipeline import Transcript
from transcription.service import CALL_JOB_KIND, CallService

# A short English call: a competitor and a budget hint left unanswered, no dated next step.
TURNS = [
    Turn(0, "rep", 0.0, 6.0, "Hi Karen, thanks for your time. Let me walk you through our platform."),
    Turn(1, "customer", 6.5, 10.0, "We are also talking to Verizon Connect about this."),
    Turn(2, "rep", 10.5, 16.0, "Sure. Our dashboards are really nice and easy to use."),
    Turn(3, "customer", 16.5, 21.0, "Money is tight this year; anything over fifty thousand needs approval."),
    Turn(4, "rep", 21.5, 30.0, "Understood. We can start small and grow from there."),
]
DURATION = 30.0


@dataclass(frozen=True)
class Hit:
    doc_id: int
    title: str
    source: str
    text: str
    kind: str = "lesson"
    gap: str | None = None


class KeywordEmbedder:
    """Sentences about a rival point one way; everything else is like nothing (cosine 0)."""

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        rival = ("vendor", "supplier", "rival", "pitched")
        return np.array([[1.0, 0.0] if any(w in text for w in rival) else [0.0, 0.0] for text in texts])


@dataclass
class FakeKnowledge:
    """Stands in for retrieval.Retriever: filters by kind and gap tag, counts encoder loads."""

    hits: list[Hit] = field(default_factory=list)
    searches: list[tuple[str, str | None]] = field(default_factory=list)
    encoder_loads: int = 0
    down: bool = False

    def search(
        self,
        identity: Identity,
        query: str,
        *,
        k: int | None = None,
        kinds: Sequence[str] | None = None,
        gap: str | None = None,
    ) -> list[Hit]:
        if self.down:
            raise ConnectionError("vector store unreachable")
        self.searches.append((identity.handle, gap))
        found = [h for h in self.hits if (not kinds or h.kind in kinds) and (gap is None or h.gap == gap)]
        return found[: k or 6]

    @property
    def embedder(self) -> KeywordEmbedder:
        self.encoder_loads += 1
        return KeywordEmbedder()


LESSONS = [
    Hit(1, "Clarify the budget", "kb/lesson-budget_unclarified-en.md", "Ask how much. " * 60, gap="budget_unclarified"),
    Hit(1, "Clarify the budget", "kb/lesson-budget_unclarified-en.md", "Second chunk.", gap="budget_unclarified"),
    Hit(2, "Who approves spend", "kb/approvals.md", "Find the approver.", gap="budget_unclarified"),
    Hit(3, "Differentiate calmly", "kb/lesson-competitor_unaddressed-en.md", "Ask what they like.", gap=None),
    Hit(4, "Discovery basics", "kb/discovery-guide.md", "Open questions first."),
    Hit(5, "Pricing sheet", "kb/pricing.md", "Prices.", kind="product"),
]


@dataclass
class World:
    settings: Settings
    db: Database
    jobs: DatabaseJobQueue
    knowledge: FakeKnowledge
    service: CallService
    uploads: Path

    def who(self, handle: str) -> Identity:
        with self.db.session() as session:
            return Identity.from_user(resolve_user(session, handle))

    def move(self, handle: str, territory: str | None) -> None:
        """A transfer: the user's territory changes after their earlier uploads."""
        with self.db.session() as session:
            target = session.scalar(select(Territory.id).where(Territory.name == territory)) if territory else None
            session.execute(update(User).where(User.handle == handle).values(territory_id=target))

    def upload(self, handle: str, name: str, *, analyse: bool = True) -> tuple[int, int]:
        audio = self.uploads / name
        audio.write_bytes(f"recording {name} by {handle}".encode())  # distinct content, distinct call
        call_id, job_id = self.service.submit(self.who(handle), audio, filename=name, source="cli")
        if analyse:
            self.jobs.run_until_idle()
        return call_id, job_id


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", llm_provider="none", gap_semantic_threshold=0.5)
    settings.ensure_dirs()
    db = Database(settings)
    db.migrate()
    jobs = DatabaseJobQueue(db)
    knowledge = FakeKnowledge(list(LESSONS))
    service = CallService(settings, db.session, jobs, knowledge=knowledge)
    jobs.register(CALL_JOB_KIND, service.run_job)
    with db.session() as session:
        build_org(session, settings.demo_seed, DEMO_DAY)

    def scripted(path: Path, _settings: Settings, progress: object = None, *, label: str | None = None) -> Transcript:
        assert path.is_file() and path.parent == settings.audio_dir  # the stored copy is analysed
        return Transcript(language="en", duration=DURATION, turns=list(TURNS), speakers_inferred=False)

    monkeypatch.setattr("transcription.service.transcribe_file", scripted)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    yield World(settings, db, jobs, knowledge, service, uploads)
    db.dispose()


# --- who sees which call ----------------------------------------------------------------------


def test_a_call_keeps_the_territory_it_was_made_in_when_the_rep_moves(world: World) -> None:
    made_in_na, _ = world.upload("jason.reed", "na.wav")
    world.move("jason.reed", "East China")
    made_in_ec, _ = world.upload("jason.reed", "ec.wav")
    with world.db.session() as session:
        territory = {t.name: t.id for t in session.scalars(select(Territory))}
        assert session.get(Call, made_in_na).territory_id == territory["North America"]
        assert session.get(Call, made_in_ec).territory_id == territory["East China"]

    old_manager, new_manager = world.who("sarah.mitchell"), world.who("wang.fang")
    assert [c.id for c in world.service.list_calls(old_manager)] == [made_in_na]
    assert world.service.get_analysis(old_manager, made_in_na).call_id == made_in_na
    with pytest.raises(PermissionDenied, match=f"call {made_in_ec}"):
        world.service.get_analysis(old_manager, made_in_ec)
    # The new manager gets the calls made in their territory, not the ones the rep brought along.
    assert [c.id for c in world.service.list_calls(new_manager)] == [made_in_ec]
    with pytest.raises(PermissionDenied):
        world.service.get_analysis(new_manager, made_in_na)
    assert {c.id for c in world.service.list_calls(world.who("jason.reed"))} == {made_in_na, made_in_ec}
    assert {c.id for c in world.service.list_calls(world.who("ops.admin"))} == {made_in_na, made_in_ec}
    assert world.service.list_calls(world.who("emily.carter")) == []  # a teammate is not a manager


def test_a_manager_without_a_territory_sees_no_teams_calls(world: World) -> None:
    call_id, _ = world.upload("jason.reed", "na.wav")
    world.move("sarah.mitchell", None)
    adrift = world.who("sarah.mitchell")
    assert adrift.territory_id is None
    assert world.service.list_calls(adrift) == []
    with pytest.raises(PermissionDenied):
        world.service.get_analysis(adrift, call_id)
    with pytest.raises(PermissionDenied, match=r"jason\.reed's calls"):
        world.service.gap_progress(adrift, "jason.reed")
    with pytest.raises(NotFound, match="no territory"):
        world.service.gap_heatmap(adrift)


def test_gap_progress_is_for_yourself_and_your_team(world: World) -> None:
    first, _ = world.upload("jason.reed", "first.wav")
    second, _ = world.upload("jason.reed", "second.wav")
    mine = {p.gap_type: p for p in world.service.gap_progress(world.who("jason.reed"))}
    competitor = mine["competitor_unaddressed"]
    assert competitor.calls_with_gap == 2 and competitor.last_seen_call == second and not competitor.resolved
    assert world.service.gap_progress(world.who("sarah.mitchell"), "jason.reed") == list(mine.values())
    with pytest.raises(PermissionDenied):
        world.service.gap_progress(world.who("emily.carter"), "jason.reed")
    with pytest.raises(NotFound):
        world.service.gap_progress(world.who("sarah.mitchell"), "no.such.rep")
    assert first < second


def test_only_reps_managers_and_admins_upload_and_the_refusals_say_why(world: World) -> None:
    audio = world.uploads / "call.wav"
    audio.write_bytes(b"some audio")
    with pytest.raises(PermissionDenied, match="Only registered users can upload call recordings"):
        world.service.submit(Identity.anonymous("slack", "U999"), audio, filename="call.wav", source="slack")
    with pytest.raises(PermissionDenied, match="Only rep, manager, admin users can upload call recordings"):
        world.service.submit(world.who("zhao.lin"), audio, filename="call.wav", source="cli")
    with pytest.raises(InvalidInput, match="not a supported recording"):
        world.service.submit(world.who("li.wei"), audio, filename="call.docx", source="cli")
    call_id, job_id = world.service.submit(world.who("wang.fang"), audio, filename="call.wav", source="cli")
    assert world.service.submit(world.who("wang.fang"), audio, filename="call.wav", source="wecom") == (
        call_id,
        job_id,
    )


# --- the heat map ----------------------------------------------------------------------------


def test_the_heat_map_counts_only_the_calls_the_viewer_may_see(world: World) -> None:
    world.upload("jason.reed", "na.wav")
    world.upload("emily.carter", "emily.wav")
    world.move("jason.reed", "East China")
    world.upload("jason.reed", "ec.wav")
    competitor = "competitor_unaddressed"

    east = world.service.gap_heatmap(world.who("wang.fang"))
    row = east.reps.index("jason.reed")
    assert east.territory == "East China" and east.calls[row] == 1  # the NA call stays in NA
    assert east.counts[row][east.gap_types.index(competitor)] == 1

    north = world.service.gap_heatmap(world.who("sarah.mitchell"))
    assert north.reps == ["daniel.kim", "emily.carter"]  # jason is no longer on her team
    assert north.calls == [0, 1]

    # insights reads the map with its own session: the module function is the same map.
    with world.db.session() as session:
        everyone = gap_heatmap(session, world.who("ops.admin"))
    assert everyone.territory is None and everyone.calls[everyone.reps.index("jason.reed")] == 2
    assert everyone.rates[everyone.reps.index("jason.reed")][everyone.gap_types.index(competitor)] == 1.0
    assert world.service.gap_heatmap(world.who("jason.reed")).reps == ["jason.reed"]
    with pytest.raises(PermissionDenied):
        world.service.gap_heatmap(world.who("jason.reed"), "North America")  # his territory is now East China
    with pytest.raises(PermissionDenied, match="Only managers"):
        world.service.gap_heatmap(world.who("zhao.lin"))


def test_the_heat_map_window_and_bad_dates(world: World) -> None:
    world.upload("emily.carter", "emily.wav")
    sarah = world.who("sarah.mitchell")
    assert sum(world.service.gap_heatmap(sarah, since="2000-01-01").calls) == 1
    later = world.service.gap_heatmap(sarah, since="2999-01-01", until="2999-12-31")
    assert sum(later.calls) == 0 and later.since == "2999-01-01" and later.until == "2999-12-31"
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        world.service.gap_heatmap(sarah, since="last week")


# --- typed results, the finished-job reply ---------------------------------------------------


def test_a_stored_analysis_reads_back_as_the_typed_values_it_was_saved_from(world: World) -> None:
    call_id, _ = world.upload("jason.reed", "fleet.wav")
    analysis = world.service.get_analysis(world.who("jason.reed"), call_id)
    assert analysis.status is CallStatus.DONE and analysis.title == "fleet" and analysis.owner == "jason.reed"
    assert analysis.transcript == TURNS
    assert analysis.metrics == compute_metrics(TURNS, DURATION)
    assert isinstance(analysis.metrics, CallMetrics)
    assert all(isinstance(g, Finding) and all(isinstance(e, Evidence) for e in g.evidence) for g in analysis.gaps)
    assert all(isinstance(g.coaching, Coaching) and isinstance(g.coaching.roleplay, RolePlay) for g in analysis.gaps)

    with world.db.session() as session:
        stored = session.get(Call, call_id)
        audio = Path(stored.audio_path)
    fresh = world.service.analyze_file(audio, identity=world.who("jason.reed")).to_dict()
    data = analysis.to_dict()
    assert list(data) == [
        "call_id",
        "title",
        "owner",
        "status",
        "error",
        "language",
        "duration",
        "speakers_inferred",
        "transcript",
        "metrics",
        "gaps",
    ]
    assert data["status"] == "done" and data["metrics"] == fresh["metrics"] and data["gaps"] == fresh["gaps"]
    assert data["transcript"][1] == {
        "speaker": "customer",
        "start": 6.5,
        "end": 10.0,
        "text": TURNS[1].text,
        "index": 1,
    }
    gap = data["gaps"][0]
    assert list(gap) == ["type", "severity", "confidence", "summary", "judged_by", "evidence", "coaching"]
    assert list(gap["coaching"]) == ["talk_track", "lessons", "roleplay"]
    assert set(gap["evidence"][0]) == {"turn", "start", "end", "quote", "speaker", "role", "note"}


def test_coaching_and_roleplay_come_from_the_stored_gaps(world: World) -> None:
    call_id, _ = world.upload("jason.reed", "fleet.wav")
    jason = world.who("jason.reed")
    items = world.service.coaching(jason, call_id)
    assert {"competitor_unaddressed", "budget_unclarified"} <= {item.type for item in items}
    budget = world.service.coaching(jason, call_id, "budget_unclarified")[0]
    assert set(budget.to_dict()) == {"type", "summary", "talk_track", "lessons", "roleplay"}
    assert budget.coaching.talk_track == t("coaching.talk_track.budget_unclarified", "en")
    play = world.service.roleplay(jason, call_id, "competitor_unaddressed")
    assert play.opening_line == TURNS[1].text and play.goal == t("coaching.goal.competitor_unaddressed", "en")
    with pytest.raises(NotFound):
        world.service.coaching(jason, call_id, "pain_unexplored")
    with pytest.raises(NotFound):
        world.service.roleplay(jason, call_id, "pain_unexplored")


def test_the_finished_job_is_told_with_the_calls_gaps_and_coaching(world: World) -> None:
    call_id, job_id = world.upload("jason.reed", "fleet.wav")
    job = world.jobs.get(job_id)
    assert job is not None and job.status is JobStatus.DONE
    assert job.result is not None and job.result["call_id"] == call_id and "budget_unclarified" in job.result["gaps"]
    metrics = compute_metrics(TURNS, DURATION)

    reply = world.service.result_reply(job, "zh")
    lines = reply.text.splitlines()
    assert lines[0] == "通话分析：fleet（30秒，en）"
    assert lines[1] == (
        f"销售发言占比 {metrics.rep_talk_ratio:.0%} · 最长独白 {metrics.longest_monologue_s:.0f}秒 · "
        f"开放式问题 {metrics.open_question_turns} 个 · 耐心 {metrics.patience_s:.1f}秒"
    )
    assert lines[2] == t("call.result.gaps", "zh")
    assert any(line.startswith("• competitor_unaddressed (high, ") and "Verizon" in line for line in lines)
    track = t("coaching.talk_track.budget_unclarified", "en")  # coaching is in the call's language
    assert f"   {t('call.result.talk_track', 'zh')}: {track}" in lines
    assert f"   {t('call.result.lessons', 'zh')}: Clarify the budget; Who approves spend" in lines
    first_gap = world.service.get_analysis(world.who("jason.reed"), call_id).gaps[0].type
    assert lines[-1] == t("call.result.practice", "zh", gap=first_gap, call=call_id)
    assert reply.job_id == job_id and reply.kind == "answer" and reply.records == [f"call:{call_id}"]
    assert reply.tables[0].columns == ("gap", "severity", "confidence", "evidence")

    english = world.service.result_reply(job, "en").text
    assert english.startswith("Call analysis: fleet (30s, en)\nRep talk ratio ")
    assert f"Rep talk ratio {metrics.rep_talk_ratio:.0%} · longest monologue" in english


# --- lessons and the shared encoder ----------------------------------------------------------


def test_lessons_come_from_the_knowledge_base_gap_tagged_first(world: World) -> None:
    rep = world.who("li.wei")
    tagged = lessons_for(world.knowledge, rep, "budget_unclarified", "clarify the budget")
    assert [(lesson.title, lesson.source) for lesson in tagged] == [
        ("Clarify the budget", "lesson-budget_unclarified-en.md"),  # one entry per document: its best chunk
        ("Who approves spend", "approvals.md"),
    ]
    assert len(tagged[0].snippet) == 400
    assert world.knowledge.searches[-1] == ("li.wei", "budget_unclarified")
    # No lesson tagged with the gap: the closest lessons, preferring one named after it.
    named = lessons_for(world.knowledge, rep, "competitor_unaddressed", "differentiate")
    assert [lesson.title for lesson in named] == ["Differentiate calmly"]
    closest = lessons_for(world.knowledge, rep, "pain_unexplored", "probe the pain")
    assert [lesson.title for lesson in closest] == ["Clarify the budget"]  # the best-ranked lesson, alone


def test_no_lessons_when_the_knowledge_base_has_none_or_is_down(world: World) -> None:
    world.knowledge.hits = [h for h in LESSONS if h.kind != "lesson"]
    call_id, _ = world.upload("jason.reed", "fleet.wav")
    analysis = world.service.get_analysis(world.who("jason.reed"), call_id)
    assert analysis.gaps and all(g.coaching is not None and g.coaching.lessons == [] for g in analysis.gaps)
    assert all(g.coaching is not None and g.coaching.talk_track and g.coaching.roleplay for g in analysis.gaps)
    assert ("jason.reed", "budget_unclarified") in world.knowledge.searches  # searched as the call's owner
    world.knowledge.down = True
    assert lessons_for(world.knowledge, world.who("jason.reed"), "budget_unclarified", "budget") == []


def test_the_cue_matcher_uses_the_knowledge_bases_encoder_loaded_once_on_first_analysis(world: World) -> None:
    assert world.knowledge.encoder_loads == 0  # building the service loads nothing
    world.upload("jason.reed", "first.wav", analyse=False)
    assert world.knowledge.encoder_loads == 0  # nor does accepting an upload
    world.jobs.run_until_idle()
    world.upload("emily.carter", "second.wav")
    assert world.knowledge.encoder_loads == 1


def test_the_encoder_opens_doors_the_lexicons_miss(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    paraphrase = [
        Turn(0, "rep", 0.0, 3.0, "What matters most to you?"),
        Turn(1, "customer", 3.5, 7.0, "A rival firm pitched us last week."),
        Turn(2, "rep", 7.5, 9.0, "Okay, thanks."),
    ]

    def scripted(path: Path, _settings: Settings, progress: object = None, *, label: str | None = None) -> Transcript:
        return Transcript(language="en", duration=9.0, turns=paraphrase, speakers_inferred=False)

    monkeypatch.setattr("transcription.service.transcribe_file", scripted)
    call_id, _ = world.upload("jason.reed", "paraphrase.wav")
    gaps = {g.type: g for g in world.service.get_analysis(world.who("jason.reed"), call_id).gaps}
    assert gaps["competitor_unaddressed"].evidence[0].quote == "A rival firm pitched us last week."
