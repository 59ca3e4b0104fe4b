"""Audio file -> timed speaker turns -> metrics -> gaps. The part that needs no database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import InvalidInput
from bot.core.settings import Settings
from transcription.audio import decode_audio
from transcription.gaps import Finding, GapThresholds, detect_gaps
from transcription.metrics import CallMetrics, compute_metrics
from transcription.semantic import SemanticDoors
from transcription.turns import Turn, infer_speakers, merge_channels, segments_to_turns, voiced_islands
from transcription.whisper import detect_language, load_model, transcribe

__all__ = ["Transcript", "transcribe_file", "analyze_turns", "thresholds_from", "semantic_doors_from", "ProgressFn"]

logger = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class Transcript:
    language: str
    duration: float
    turns: list[Turn]
    speakers_inferred: bool


def thresholds_from(settings: Settings) -> GapThresholds:
    return GapThresholds(
        monologue_ratio=settings.monologue_ratio_threshold,
        monologue_seconds=settings.monologue_seconds_threshold,
        min_open_questions=settings.min_open_questions,
        answer_window_turns=settings.gap_answer_window_turns,
    )


def transcribe_file(path: Path, settings: Settings, progress: ProgressFn | None = None, *, label: str | None = None) -> Transcript:
    """Decode, check, transcribe (both channels of a stereo call) and build turns."""
    label = label or path.name
    report = progress or (lambda fraction, note: None)
    report(0.02, "decoding audio")
    audio = decode_audio(path, max_minutes=settings.max_call_minutes, label=label)
    if audio.duration < 1.0 or audio.is_silent():
        raise InvalidInput(
            f"'{label}' is silent (no speech could be heard). Check the recording and send it again."
        )
    report(0.05, "loading the speech model")
    model = load_model(settings)
    language = detect_language(model, audio.mono())
    total_speech = audio.duration * len(audio.channels)
    done = 0.0

    def on_channel(offset: float) -> Callable:
        def on_segment(segment) -> None:
            report(0.1 + 0.85 * min(1.0, (offset + segment.end) / total_speech), f"transcribing {segment.end:.0f}s / {audio.duration:.0f}s")

        return on_segment

    if audio.is_stereo:
        rep_index = 0 if settings.rep_channel == "left" else 1
        per_speaker = {}
        for index, samples in enumerate(audio.channels):
            speaker = "rep" if index == rep_index else "customer"
            segments = transcribe(model, samples, language=language, beam_size=settings.whisper_beam_size, on_segment=on_channel(done))
            done += audio.duration
            per_speaker[speaker] = segments_to_turns(segments, voiced_islands(samples), language=language)
        turns = merge_channels(per_speaker, language=language)
        inferred = False
    else:
        samples = audio.channels[0]
        segments = transcribe(model, samples, language=language, beam_size=settings.whisper_beam_size, on_segment=on_channel(0.0))
        # Pauses between speakers are short in one channel: cut islands at 0.3 s pauses.
        islands = voiced_islands(samples, merge_gap_s=0.3)
        pieces = segments_to_turns(segments, islands, language=language)
        labels = infer_speakers(samples, [(a, b) for a, b, _ in pieces])
        per_speaker: dict[str, list] = {"rep": [], "customer": []}
        for piece, label in zip(pieces, labels):
            per_speaker[label].append(piece)
        turns = merge_channels(per_speaker, language=language)
        inferred = True
    if not turns:
        raise InvalidInput(f"No speech was recognised in '{label}'. Check the recording and send it again.")
    report(0.96, "analysing the conversation")
    return Transcript(language=language, duration=round(audio.duration, 2), turns=turns, speakers_inferred=inferred)


def analyze_turns(
    turns: list[Turn], thresholds: GapThresholds, duration: float | None = None, semantic: SemanticDoors | None = None
) -> tuple[CallMetrics, list[Finding]]:
    metrics = compute_metrics(turns, duration)
    doors = semantic.doors(turns) if semantic is not None else None
    return metrics, detect_gaps(turns, metrics, thresholds, doors)


def semantic_doors_from(settings: Settings) -> SemanticDoors | None:
    """The embedding matcher, if enabled and the embedder loads (rules alone work without it)."""
    if settings.gap_semantic_threshold <= 0:
        return None
    key = (settings.embedding_backend, settings.embedding_model, settings.gap_semantic_threshold)
    if key not in _semantic:
        try:
            from retrieval._embedders import build_embedder

            _semantic[key] = SemanticDoors(build_embedder(settings), settings.gap_semantic_threshold)
        except Exception:
            logger.warning("sentence embedder unavailable: gap cues by lexicon only", exc_info=True)
            _semantic[key] = None
    return _semantic[key]


_semantic: dict[tuple, SemanticDoors | None] = {}
