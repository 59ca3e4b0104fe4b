"""From audio and Whisper segments to timed speaker turns.

Whisper's segment times are coarse (with VAD, one segment can span two turns), so turn
bounds come from the signal itself: voiced "islands" found by frame energy. Each segment's
text is laid onto the islands it overlaps (split in proportion to their length, at a word or
punctuation boundary), so a turn is one island of one speaker.

Stereo: one speaker per channel. Mono: islands are clustered by pitch into two voices; the
voice that opens the call is taken as the rep (a heuristic, so the result says
`speakers_inferred`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from transcription.audio import SAMPLE_RATE
from transcription.whisper import Segment

__all__ = ["Turn", "infer_speakers", "merge_channels", "segments_to_turns", "voiced_islands"]

FRAME_S = 0.02
_BREAK = re.compile(r"[\s,.;!?，。；！？、]")


@dataclass(frozen=True)
class Turn:
    index: int
    speaker: str  # rep | customer
    start: float
    end: float
    text: str

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "speaker": self.speaker,
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        """A turn as stored with a call, or as listed in a labelled call's reference sidecar."""
        return cls(int(data["index"]), data["speaker"], float(data["start"]), float(data["end"]), data["text"])


def _frame_rms(samples: np.ndarray) -> np.ndarray:
    hop = int(FRAME_S * SAMPLE_RATE)
    count = len(samples) // hop
    if count == 0:
        return np.zeros(0)
    frames = samples[: count * hop].reshape(count, hop).astype(np.float64)
    return np.sqrt(np.mean(frames * frames, axis=1))


def voiced_islands(
    samples: np.ndarray, *, merge_gap_s: float = 1.0, min_len_s: float = 0.15
) -> list[tuple[float, float]]:
    """Stretches of speech: frames well above the noise floor, joined across short pauses."""
    rms = _frame_rms(samples)
    if rms.size == 0 or rms.max() <= 0:
        return []
    floor = float(np.percentile(rms, 10))
    peak = float(np.percentile(rms, 99))
    threshold = max(floor * 4.0, peak * 0.06, 1e-4)
    voiced = np.flatnonzero(rms > threshold)
    if voiced.size == 0:
        return []
    islands: list[list[int]] = [[int(voiced[0]), int(voiced[0])]]
    max_gap = int(merge_gap_s / FRAME_S)
    for frame in voiced[1:]:
        if frame - islands[-1][1] <= max_gap:
            islands[-1][1] = int(frame)
        else:
            islands.append([int(frame), int(frame)])
    return [(a * FRAME_S, (b + 1) * FRAME_S) for a, b in islands if (b + 1 - a) * FRAME_S >= min_len_s]


def _split_text(text: str, weights: list[float]) -> list[str]:
    """Cut text into len(weights) pieces in proportion to weights, at the nearest break."""
    pieces: list[str] = []
    rest = text
    for i, weight in enumerate(weights[:-1]):
        remaining = sum(weights[i:])
        target = round(len(rest) * weight / remaining) if remaining else 0
        breaks = [m.end() for m in _BREAK.finditer(rest)]
        cut = min(breaks, key=lambda b: abs(b - target)) if breaks else target
        pieces.append(rest[:cut].strip())
        rest = rest[cut:]
    pieces.append(rest.strip())
    return pieces


def _joiner(language: str) -> str:
    return "" if language == "zh" else " "


def segments_to_turns(
    segments: list[Segment], islands: list[tuple[float, float]], *, language: str, slack_s: float = 0.4
) -> list[tuple[float, float, str]]:
    """(start, end, text) per island that received text; segments with no island keep their own times."""
    texts: dict[int, list[str]] = {}
    orphans: list[tuple[float, float, str]] = []
    for seg in segments:
        # Whisper stretches a segment's end over the silence that follows it, so an island
        # counts only if the segment covers a real part of it.
        overlaps = [(i, min(b, seg.end) - max(a, seg.start)) for i, (a, b) in enumerate(islands)]
        hits = [i for i, o in overlaps if o >= min(0.5, 0.3 * (islands[i][1] - islands[i][0]))]
        if not hits:
            near = [(i, min(b, seg.end + slack_s) - max(a, seg.start - slack_s)) for i, (a, b) in enumerate(islands)]
            best = max(near, key=lambda x: x[1], default=None)
            hits = [best[0]] if best is not None and best[1] > 0 else []
        if not hits:
            orphans.append((seg.start, seg.end, seg.text))
            continue
        if len(hits) == 1:
            texts.setdefault(hits[0], []).append(seg.text)
            continue
        weights = [max(0.05, dict(overlaps)[i]) for i in hits]
        for i, piece in zip(hits, _split_text(seg.text, weights), strict=True):
            if piece:
                texts.setdefault(i, []).append(piece)
    joiner = _joiner(language)
    out = [(islands[i][0], islands[i][1], joiner.join(parts).strip()) for i, parts in texts.items()]
    out.extend(orphans)
    return sorted((t for t in out if t[2]), key=lambda t: t[0])


def merge_channels(per_speaker: dict[str, list[tuple[float, float, str]]], *, language: str) -> list[Turn]:
    """Interleave both speakers by time; consecutive pieces of one speaker become one turn."""
    pieces = sorted(
        ((start, end, text, speaker) for speaker, items in per_speaker.items() for start, end, text in items),
        key=lambda p: p[0],
    )
    merged: list[tuple[float, float, str, str]] = []
    for start, end, text, speaker in pieces:
        if merged and merged[-1][3] == speaker:
            first, last, said, _ = merged[-1]
            merged[-1] = (first, max(last, end), f"{said}{_joiner(language)}{text}", speaker)
        else:
            merged.append((start, end, text, speaker))
    return [Turn(i, sp, round(a, 2), round(b, 2), t) for i, (a, b, t, sp) in enumerate(merged)]


def _pitch(samples: np.ndarray) -> float | None:
    """Median fundamental frequency (Hz) of the voiced frames, by autocorrelation."""
    win = int(0.04 * SAMPLE_RATE)
    lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 70
    values = []
    for start in range(0, len(samples) - win, win):
        frame = samples[start : start + win].astype(np.float64)
        frame = frame - frame.mean()
        energy = float(np.dot(frame, frame))
        if energy < 1e-6:
            continue
        corr = np.correlate(frame, frame, mode="full")[win - 1 :]
        lag = lo + int(np.argmax(corr[lo:hi]))
        if corr[lag] / energy > 0.45:
            values.append(SAMPLE_RATE / lag)
    return float(np.median(values)) if len(values) >= 3 else None


def infer_speakers(samples: np.ndarray, islands: list[tuple[float, float]]) -> list[str]:
    """Label mono islands rep/customer by clustering their pitch into two voices."""
    pitches = [_pitch(samples[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]) for a, b in islands]
    known = [np.log(p) for p in pitches if p]
    if len(known) < 2 or max(known) - min(known) < 0.08:
        # One voice, or two we cannot tell apart: alternate at each pause, the opener being the rep.
        return ["rep" if i % 2 == 0 else "customer" for i in range(len(islands))]
    low, high = min(known), max(known)
    for _ in range(20):  # two-means on log pitch
        mid = (low + high) / 2
        a = [k for k in known if k < mid] or [low]
        b = [k for k in known if k >= mid] or [high]
        low, high = float(np.mean(a)), float(np.mean(b))
    mid = (low + high) / 2
    clusters = []
    last = 0
    for p in pitches:
        last = last if p is None else int(np.log(p) >= mid)
        clusters.append(last)
    rep_cluster = clusters[0]
    return ["rep" if c == rep_cluster else "customer" for c in clusters]
