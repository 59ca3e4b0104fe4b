"""`copilot eval gaps`: precision, recall and F1 per gap type over labelled calls, end to end
from the audio and from the reference turns of the JSON sidecars (NAME.flac + NAME.json)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

from bot.core.settings import Settings
from transcription.gaps import GAP_TYPES
from transcription.pipeline import analyze_turns, thresholds_from, transcribe_file
from transcription.semantic import SemanticDoors
from transcription.turns import Turn

__all__ = ["GapScores", "TypeScores", "evaluate_gaps", "score"]


class TypeScores(TypedDict):
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int


class GapScores(TypedDict):
    macro_f1: float
    per_type: dict[str, TypeScores]
    calls: int


def score(pairs: list[tuple[set[str], set[str]]]) -> GapScores:
    """pairs of (predicted, labelled present) per call -> per-type P/R/F1 and macro-F1."""
    per_type: dict[str, TypeScores] = {}
    for gap in GAP_TYPES:
        tp = sum(gap in p and gap in t for p, t in pairs)
        fp = sum(gap in p and gap not in t for p, t in pairs)
        fn = sum(gap not in p and gap in t for p, t in pairs)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_type[gap] = {
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "f1": round(f1, 3),
            "tp": tp,
            "fp": fp,
            "fn": fn,
        }
    macro = sum(v["f1"] for v in per_type.values()) / len(per_type)
    return {"macro_f1": round(macro, 3), "per_type": per_type, "calls": len(pairs)}


def evaluate_gaps(
    settings: Settings,
    calls_dir: Path,
    *,
    semantic: SemanticDoors | None,
    with_audio: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, GapScores]:
    """Scores from the reference turns (and, `with_audio`, from the transcribed audio).

    No LLM judge (rules, lexicons, and the embedding matcher when `semantic` is given): the
    figure the product must reach on its own."""
    thresholds = thresholds_from(settings)
    reference_pairs: list[tuple[set[str], set[str]]] = []
    audio_pairs: list[tuple[set[str], set[str]]] = []
    for sidecar in sorted(Path(calls_dir).glob("*.json")):
        labels = json.loads(sidecar.read_text(encoding="utf-8"))
        present = set(labels["gaps_present"])
        turns = [Turn.from_dict(turn) for turn in labels["turns"]]
        _metrics, findings = analyze_turns(turns, thresholds, semantic=semantic)
        reference_pairs.append(({f.type for f in findings}, present))
        if with_audio:
            audio_file = sidecar.with_name(labels.get("audio", {}).get("file") or f"{sidecar.stem}.flac")
            transcript = transcribe_file(audio_file, settings)
            _metrics, findings = analyze_turns(transcript.turns, thresholds, transcript.duration, semantic)
            audio_pairs.append(({f.type for f in findings}, present))
        if progress:
            progress(sidecar.stem)
    result: dict[str, GapScores] = {"reference": score(reference_pairs)}
    if with_audio:
        result = {"audio": score(audio_pairs), **result}
    return result
