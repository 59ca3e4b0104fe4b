"""Real audio through PyAV and the packaged Whisper base model; persisted jobs; permissions."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from sqlalchemy import update

from bot.core.errors import InvalidInput, NotFound, PermissionDenied, UnsupportedMedia
from bot.core.models import Call, CallStatus, Job, JobStatus
from retrieval import build_embedder
from tests.conftest import SAMPLE_CALLS
from transcription.audio import decode_audio
from transcription.evaluation import evaluate_gaps, score
from transcription.gaps import GAP_TYPES
from transcription.heatmap import render_heatmap_png
from transcription.pipeline import transcribe_file
from transcription.semantic import semantic_doors
from transcription.turns import Turn
from transcription.whisper import load_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CALL = SAMPLE_CALLS / "a1_en_fleet_telematics.flac"
DEMO_KB = SAMPLE_CALLS.parent / "kb"


def _write(path: Path, samples: np.ndarray, codec: str, rate: int = 16000, layout: str = "mono") -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(
            samples.astype(np.int16).reshape(1, -1) if layout == "mono" else samples.astype(np.int16),
            format="s16" if layout == "mono" else "s16p",
            layout=layout,
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def decode(path: Path, max_seconds: float = 600) -> np.ndarray:
    """channels x samples at 16 kHz."""
    return np.stack(decode_audio(path, max_minutes=max_seconds / 60).channels)


def _clip(path: Path, samples: np.ndarray) -> Path:
    """A stereo (2 x n) or mono (n,) float array as a 16-bit WAV."""
    stereo = samples.ndim == 2
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=16000, layout="stereo" if stereo else "mono")
        data = (np.atleast_2d(samples) * 32767).clip(-32767, 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(data, format="s16p", layout="stereo" if stereo else "mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="module", autouse=True)
def whisper_once(tmp_path_factory):
    """Load the packaged Whisper model once for the module (it is cached per process)."""
    from bot.core.settings import Settings

    load_model(Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("whisper")))


@pytest.fixture(scope="module")
def mono_clip(tmp_path_factory) -> Path:
    """The first 30 s of a sample call mixed down to one channel: both voices, one track."""
    audio = decode(CALL)[:, : 16000 * 30]
    return _clip(tmp_path_factory.mktemp("audio") / "clip.wav", audio.sum(axis=0) * 2)


def test_every_format_decodes_to_16k(tmp_path) -> None:
    tone = (np.sin(np.linspace(0, 2000 * np.pi, 16000 * 2)) * 8000).astype(np.int16)
    decoded: set[str] = set()
    for name, codec, rate in (
        ("t.wav", "pcm_s16le", 16000),
        ("t.mp3", "libmp3lame", 16000),
        ("t.flac", "flac", 16000),
        ("t.ogg", "libopus", 48000),
        ("t.m4a", "aac", 16000),
        ("t.amr", "libopencore_amrnb", 8000),
    ):
        if codec not in av.codecs_available:
            continue
        samples = tone if rate == 16000 else (np.sin(np.linspace(0, 2000 * np.pi, rate * 2)) * 8000).astype(np.int16)
        path = _write(tmp_path / name, samples, codec, rate=rate)
        audio = decode(path, max_seconds=60)
        assert audio.shape[0] == 1 and abs(audio.shape[1] - 32000) < 3000, name
        decoded.add(name)
    assert {"t.wav", "t.mp3", "t.flac", "t.m4a", "t.amr"} <= decoded  # AMR (WeCom voice) included


def test_bad_audio_gets_a_clear_reason(app, tmp_path) -> None:
    corrupt = tmp_path / "call.mp3"
    corrupt.write_bytes(b"ID3" + bytes(range(256)) * 40)
    with pytest.raises(InvalidInput, match=r"call\.mp3"):
        decode(corrupt, max_seconds=600)
    silent = _write(tmp_path / "silent.wav", np.zeros(16000 * 3), "pcm_s16le")
    with pytest.raises(InvalidInput, match="silent"):
        transcribe_file(silent, app.settings)
    with pytest.raises(UnsupportedMedia):
        decode_audio(tmp_path / "notes.txt", max_minutes=90)
    text = tmp_path / "notes.m4a"
    text.write_text("not audio at all")
    with pytest.raises(InvalidInput):
        decode(text, max_seconds=600)


def test_a_two_hour_file_is_refused_before_decoding(tmp_path) -> None:
    # Two hours of 8 kHz silence in AMR-free WAV would be 115 MB; a FLAC of it is tiny.
    long = _write(tmp_path / "long.flac", np.zeros(8000 * 60 * 120), "flac", rate=8000)
    started = datetime.now()
    with pytest.raises(InvalidInput, match="120 minutes long; calls are limited to 90 minutes"):
        decode(long, max_seconds=90 * 60)
    assert (datetime.now() - started).total_seconds() < 5


def test_stereo_call_transcribed_with_speakers_by_channel(app) -> None:
    transcript = transcribe_file(CALL, app.settings)
    reference = [Turn.from_dict(t) for t in json.loads(CALL.with_suffix(".json").read_text())["turns"]]
    assert transcript.language == "en" and not transcript.speakers_inferred
    assert [t.speaker for t in transcript.turns] == [t.speaker for t in reference]
    assert all(
        abs(a.start - b.start) < 0.5 and abs(a.end - b.end) < 0.5
        for a, b in zip(transcript.turns, reference, strict=True)
    )
    assert "spreadsheet" in transcript.turns[1].text.lower()


def test_mono_recordings_say_speakers_were_inferred(app, mono_clip) -> None:
    transcript = transcribe_file(mono_clip, app.settings)
    assert transcript.speakers_inferred and transcript.turns
    assert {t.speaker for t in transcript.turns} == {"rep", "customer"}
    assert transcript.turns[0].speaker == "rep" and "karen" in transcript.turns[0].text.lower()


def test_chinese_comes_out_in_simplified_characters(app, tmp_path) -> None:
    audio = decode(SAMPLE_CALLS / "a5_zh_retail_membership.flac")[:, : 16000 * 30]
    transcript = transcribe_file(_clip(tmp_path / "zh.wav", audio), app.settings)
    text = "".join(t.text for t in transcript.turns)
    assert transcript.language == "zh" and "会员" in text
    assert not any(ch in text for ch in "們這個會員運營為麼")


def test_upload_job_analysis_permissions_and_heatmap(org_app, identity_of, tmp_path) -> None:
    # Coaching lessons come from the knowledge base only: a trainer has added two of them.
    for lesson in ("lesson-budget_unclarified-en.md", "lesson-competitor_unaddressed-en.md"):
        org_app.knowledge.add_file(identity_of("zhao.lin"), DEMO_KB / lesson, source="cli")
    jason = identity_of("jason.reed")
    upload = tmp_path / "fleet.flac"
    shutil.copyfile(CALL, upload)
    call_id, job_id = org_app.calls.submit(jason, upload, filename="fleet.flac", source="cli")
    assert org_app.calls.submit(jason, upload, filename="fleet.flac", source="slack") == (call_id, job_id)
    upload.unlink()  # the copy kept under the data folder is what gets analysed
    org_app.jobs.run_until_idle()
    assert org_app.jobs.get(job_id).status is JobStatus.DONE
    analysis = org_app.calls.get_analysis(jason, call_id).to_dict()
    assert set(analysis) >= {"language", "duration", "transcript", "metrics", "gaps"}
    assert analysis["language"] == "en" and 70 < analysis["duration"] < 80
    assert {"budget_unclarified", "competitor_unaddressed", "next_step_missing"} <= {
        g["type"] for g in analysis["gaps"]
    }
    for gap in analysis["gaps"]:
        assert gap["evidence"] and all({"start", "end", "quote"} <= set(e) for e in gap["evidence"])
        assert gap["coaching"]["talk_track"] and gap["coaching"]["roleplay"]
    roleplay = org_app.calls.roleplay(jason, call_id, "competitor_unaddressed")
    assert "Verizon" in roleplay.opening_line and roleplay.goal
    budget = org_app.calls.coaching(jason, call_id, "budget_unclarified")[0].coaching
    assert [lesson.source for lesson in budget.lessons] == ["lesson-budget_unclarified-en.md"]
    assert budget.lessons[0].title and budget.lessons[0].snippet
    assert budget.talk_track and budget.roleplay is not None
    reply = org_app.copilot.formatters["call_analysis"](org_app.jobs.get(job_id), "zh")
    assert "budget_unclarified" in reply.text and "销售发言占比" in reply.text

    with pytest.raises(PermissionDenied):
        org_app.calls.get_analysis(identity_of("emily.carter"), call_id)
    assert org_app.calls.get_analysis(identity_of("sarah.mitchell"), call_id).call_id == call_id
    with pytest.raises(PermissionDenied):
        org_app.calls.get_analysis(identity_of("wang.fang"), call_id)
    with pytest.raises(NotFound):
        org_app.calls.get_analysis(jason, 999)

    heatmap = org_app.calls.gap_heatmap(identity_of("sarah.mitchell"))
    row = heatmap.reps.index("jason.reed")
    assert heatmap.territory == "North America" and heatmap.calls[row] == 1
    assert heatmap.counts[row][heatmap.gap_types.index("competitor_unaddressed")] == 1
    with pytest.raises(PermissionDenied):
        org_app.calls.gap_heatmap(identity_of("sarah.mitchell"), "East China")
    png = render_heatmap_png(heatmap, tmp_path / "heat.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(PermissionDenied):
        org_app.calls.gap_heatmap(identity_of("emily.carter"), "East China")
    assert org_app.calls.gap_heatmap(identity_of("emily.carter")).reps == ["emily.carter"]
    progress = {p.gap_type: p for p in org_app.calls.gap_progress(jason)}
    assert not progress["competitor_unaddressed"].resolved and progress["competitor_unaddressed"].calls_with_gap == 1
    assert [c.id for c in org_app.calls.list_calls(jason)] == [call_id]
    assert org_app.calls.list_calls(identity_of("emily.carter")) == []


def test_corrupt_upload_fails_the_job_with_the_reason_and_keeps_the_audio(org_app, identity_of, tmp_path) -> None:
    bad = tmp_path / "broken.m4a"
    bad.write_bytes(b"\x00\x00\x00\x18ftypM4A " + b"\x01" * 500)
    call_id, job_id = org_app.calls.submit(identity_of("li.wei"), bad, filename="broken.m4a", source="wecom")
    org_app.jobs.run_until_idle()
    job = org_app.jobs.get(job_id)
    assert job.status is JobStatus.FAILED and "broken.m4a" in job.error
    analysis = org_app.calls.get_analysis(identity_of("li.wei"), call_id)
    assert analysis.status is CallStatus.FAILED and analysis.error == job.error
    assert analysis.metrics is None and analysis.to_dict()["metrics"] == {} and analysis.gaps == []
    with org_app.db.session() as session:
        assert Path(session.get(Call, call_id).audio_path).read_bytes() == bad.read_bytes()


def test_an_analysis_interrupted_by_a_crash_is_picked_up_again(org_app, identity_of, tmp_path) -> None:
    clip = _clip(tmp_path / "short.wav", decode(CALL)[:, : 16000 * 20])
    call_id, job_id = org_app.calls.submit(identity_of("jason.reed"), clip, filename="short.wav", source="cli")
    org_app.jobs.claim(("call_analysis",))  # a worker took it, then the process died
    with org_app.db.session() as session:
        session.execute(update(Call).where(Call.id == call_id).values(status=CallStatus.PROCESSING))
        session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=datetime.now(UTC) - timedelta(hours=1)))
    assert org_app.jobs.recover() == 1
    org_app.jobs.run_until_idle()
    assert org_app.jobs.get(job_id).status is JobStatus.DONE
    assert org_app.calls.get_analysis(identity_of("jason.reed"), call_id).status is CallStatus.DONE


def test_gap_evaluation_from_reference_turns_meets_the_target(settings) -> None:
    semantic = semantic_doors(lambda: build_embedder(settings), settings.gap_semantic_threshold)
    assert semantic is not None  # the figure is the one with the embedding matcher, as the CLI runs it
    result = evaluate_gaps(settings, SAMPLE_CALLS, semantic=semantic, with_audio=False)
    assert result["reference"]["calls"] == 6
    assert result["reference"]["macro_f1"] >= 0.8


def test_scoring_math() -> None:
    result = score([({"a_gap"}, {"a_gap"}), (set(), {"budget_unclarified"}), ({"budget_unclarified"}, set())])
    assert result["per_type"]["budget_unclarified"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 1,
        "fn": 1,
    }
    assert result["per_type"]["pain_unexplored"]["f1"] == 1.0
    json.dumps(result)


def test_who_may_submit_and_what_is_refused_before_any_work(org_app, identity_of, tmp_path) -> None:
    from bot.core.identity import Identity

    upload = tmp_path / "call.wav"
    _clip(upload, np.zeros(16000))
    with pytest.raises(PermissionDenied):
        org_app.calls.submit(Identity.anonymous("slack", "U999"), upload, filename="call.wav", source="slack")
    with pytest.raises(PermissionDenied):
        org_app.calls.submit(identity_of("zhao.lin"), upload, filename="call.wav", source="cli")  # a trainer
    with pytest.raises(UnsupportedMedia):
        org_app.calls.submit(identity_of("li.wei"), upload, filename="call.docx", source="cli")
    call_id, job_id = org_app.calls.submit(identity_of("wang.fang"), upload, filename="call.wav", source="cli")
    other_call, other_job = org_app.calls.submit(identity_of("li.wei"), upload, filename="call.wav", source="cli")
    assert other_call != call_id and other_job != job_id  # same audio, another owner: its own call
    with org_app.db.session() as session:
        stored = {session.get(Call, call_id).audio_path, session.get(Call, other_call).audio_path}
    assert len(stored) == 1 and Path(stored.pop()).is_file()  # content-addressed, stored once


def test_cli_analyze_heatmap_and_eval(org_app, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from bot.cli import app as cli
    from bot.cli import common

    monkeypatch.setattr(common, "_app", org_app)
    runner = CliRunner()
    clip = _clip(tmp_path / "first-minute.wav", decode(CALL)[:, : 16000 * 62])
    result = runner.invoke(cli, ["call", "analyze", str(clip), "--as", "jason.reed", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout[result.stdout.index("{") :])
    assert set(data) >= {"language", "duration", "transcript", "metrics", "gaps", "speakers_inferred"}
    assert data["transcript"][0]["speaker"] == "rep" and {"start", "end", "text"} <= set(data["transcript"][0])
    assert "competitor_unaddressed" in {g["type"] for g in data["gaps"]}

    png = tmp_path / "heat.png"
    result = runner.invoke(cli, ["call", "heatmap", "--as", "sarah.mitchell", "--json", "--png", str(png)])
    assert result.exit_code == 0, result.output
    heat = json.loads(result.stdout[result.stdout.index("{") :])
    assert heat["territory"] == "North America" and png.read_bytes()[:4] == b"\x89PNG"
    result = runner.invoke(cli, ["call", "show", str(data["call_id"]), "--as", "jason.reed"])
    assert result.exit_code == 0 and "talk track" in result.output and "Verizon" in result.output
    for command in (
        ["call", "list"],
        ["call", "progress"],
        ["call", "roleplay", str(data["call_id"]), "competitor_unaddressed"],
    ):
        result = runner.invoke(cli, [*command, "--as", "jason.reed"])
        assert result.exit_code == 0, (command, result.output)
    result = runner.invoke(cli, ["call", "show", str(data["call_id"]), "--as", "emily.carter"])
    assert result.exit_code == 1 and "access" in result.output

    result = runner.invoke(cli, ["eval", "gaps", "--reference-only", "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout[result.stdout.index("{") :])
    assert scores["reference"]["calls"] == 6 and set(scores["reference"]["per_type"]) == set(GAP_TYPES)
