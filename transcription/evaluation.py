"""`copilot eval gaps`: precision, recall and F1 per gap type over labelled calls, end to end
from the audio and from the reference turns of the JSON sidecars."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.settings import Settings
from transcription._asr import Transcript, transcribe, turns_from_reference
from transcription._audio import decode
from transcription._gaps import GAP_TYPES
from transcription.service import analyse_transcript

__all__ = ["evaluate_gaps", "score"]


def score(pairs: list[tuple[set[str], set[str]]]) -> dict[str, Any]:
    """pairs of (predicted, labelled present) per call -> per-type P/R/F1 and macro-F1."""
    per_type: dict[str, dict[str, float]] = {}
    for gap in GAP_TYPES:
        tp = sum(gap in p and gap in t for p, t in pairs)
        fp = sum(gap in p and gap not in t for p, t in pairs)
        fn = sum(gap not in p and gap in t for p, t in pairs)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_type[gap] = {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3), "tp": tp, "fp": fp, "fn": fn}
    macro = sum(v["f1"] for v in per_type.values()) / len(per_type)
    return {"macro_f1": round(macro, 3), "per_type": per_type, "calls": len(pairs)}


def evaluate_gaps(
    settings: Settings, calls_dir: Path, *, with_audio: bool = True, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    sidecars = sorted(calls_dir.glob("*.json"))
    reference_pairs, audio_pairs = [], []
    for sidecar in sidecars:
        labels = json.loads(sidecar.read_text(encoding="utf-8"))
        present = set(labels["gaps_present"])
        reference_pairs.append((_predict(turns_from_reference(sidecar), settings), present))
        if with_audio:
            audio_file = sidecar.with_name(labels["audio"]["file"])
            audio = decode(audio_file, max_seconds=settings.max_call_minutes * 60)
            audio_pairs.append((_predict(transcribe(audio, settings), settings), present))
        if progress:
            progress(sidecar.stem)
    result: dict[str, Any] = {"reference": score(reference_pairs)}
    if with_audio:
        result = {"audio": score(audio_pairs), **result}
    return result


def _predict(transcript: Transcript, settings: Settings) -> set[str]:
    _metrics, findings = analyse_transcript(transcript, settings)
    return {f.type for f in findings}
