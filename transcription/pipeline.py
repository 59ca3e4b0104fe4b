"""Audio file -> timed speaker turns -> metrics -> gaps. The part that needs no database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import InvalidInput
from bot.core.settings import Settings
from transcription.audio import decode_audio
from transcription.findings import Finding
from transcription.gaps import GapThresholds, detect_gaps
from transcription.metrics import CallMetrics, compute_metrics
from transcription.semantic import SemanticDoors
from transcription.turns import Turn, infer_speakers, merge_channels, segments_to_turns, voiced_islands
from transcription.whisper import Segment, detect_language, load_model, transcribe

__all__ = ["ProgressFn", "Transcript", "analyze_turns", "thresholds_from", "transcribe_file"]

ProgressFn = Callable[[float, str], None]
"""Told how far the work is (0..1) and what it is doing."""

Piece = tuple[float, float, str]


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


def _ignore_progress(_fraction: float, _note: str) -> None:
    return None


def transcribe_file(
    path: Path, settings: Settings, progress: ProgressFn | None = None, *, label: str | None = None
) -> Transcript:
    """Decode, check, transcribe (both channels of a stereo call) and build turns."""
    label = label or path.name
    report = progress or _ignore_progress
    report(0.02, "decoding audio")
    audio = decode_audio(path, max_minutes=settings.max_call_minutes, label=label)
    if audio.duration < 1.0 or audio.is_silent():
        raise InvalidInput(f"'{label}' is silent (no speech could be heard). Check the recording and send it again.")
    report(0.05, "loading the speech model")
    model = load_model(settings)
    language = detect_language(model, audio.mono())
    total_speech = audio.duration * len(audio.channels)

    def on_channel(offset: float) -> Callable[[Segment], None]:
        def on_segment(segment: Segment) -> None:
            done = min(1.0, (offset + segment.end) / total_speech)
            report(0.1 + 0.85 * done, f"transcribing {segment.end:.0f}s / {audio.duration:.0f}s")

        return on_segment

    per_speaker: dict[str, list[Piece]] = {"rep": [], "customer": []}
    if audio.is_stereo:
        rep_index = 0 if settings.rep_channel == "left" else 1
        for index, samples in enumerate(audio.channels):
            speaker = "rep" if index == rep_index else "customer"
            segments = transcribe(
                model,
                samples,
                language=language,
                beam_size=settings.whisper_beam_size,
                on_segment=on_channel(index * audio.duration),
            )
            per_speaker[speaker] = segments_to_turns(segments, voiced_islands(samples), language=language)
        inferred = False
    else:
        samples = audio.channels[0]
        segments = transcribe(
            model, samples, language=language, beam_size=settings.whisper_beam_size, on_segment=on_channel(0.0)
        )
        # Pauses between speakers are short in one channel: cut islands at 0.3 s pauses.
        islands = voiced_islands(samples, merge_gap_s=0.3)
        pieces = segments_to_turns(segments, islands, language=language)
        labels = infer_speakers(samples, [(a, b) for a, b, _ in pieces])
        for piece, speaker in zip(pieces, labels, strict=True):
            per_speaker[speaker].append(piece)
        inferred = True
    turns = merge_channels(per_speaker, language=language)
    if not turns:
        raise InvalidInput(f"No speech was recognised in '{label}'. Check the recording and send it again.")
    report(0.96, "analysing the conversation")
    return Transcript(language=language, duration=round(audio.duration, 2), turns=turns, speakers_inferred=inferred)


def analyze_turns(
    turns: list[Turn], thresholds: GapThresholds, duration: float | None = None, semantic: SemanticDoors | None = None
) -> tuple[CallMetrics, list[Finding]]:
    """Metrics and the rule findings of one conversation; `semantic` adds cues found by embeddings."""
    metrics = compute_metrics(turns, duration)
    doors = semantic.doors(turns) if semantic is not None else None
    return metrics, detect_gaps(turns, metrics, thresholds, doors)
