"""Speech to speaker-labelled turns with faster-whisper.

The call is transcribed ONCE (channels mixed to mono, VAD on, word timestamps), which costs
about what bare faster-whisper costs on the file. Each word is then given to a speaker:
- stereo: the channel that carries the energy under that word (one speaker a channel; which
  channel is the rep is a setting);
- mono: turns are split at pauses and alternate between the two speakers, starting with the
  rep. That is a guess, and the result says so (`speakers_inferred`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zhconv

from bot.model_assets import whisper_base_dir
from bot.settings import Settings
from transcription._audio import SAMPLE_RATE

__all__ = ["Turn", "Transcript", "transcribe", "load_whisper", "turns_from_reference"]

logger = logging.getLogger(__name__)

ZH_PROMPT = "以下是普通话的句子。"  # steers Whisper to simplified Chinese with punctuation
TURN_PAUSE_S = 1.5  # same speaker, a longer silence: a new turn
MONO_TURN_PAUSE_S = 0.6

_MODELS: dict[tuple[str, str, int], object] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Turn:
    index: int
    speaker: str  # "rep" | "customer"
    start: float
    end: float
    text: str

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Transcript:
    language: str
    duration: float
    turns: list[Turn]
    speakers_inferred: bool


def load_whisper(settings: Settings):  # noqa: ANN201 - faster_whisper.WhisperModel
    """One model per process: loading costs seconds, transcribing shares it."""
    from faster_whisper import WhisperModel

    name = settings.whisper_model
    path = str(whisper_base_dir(settings.model_cache_dir)) if name == "base" else name
    key = (path, settings.whisper_compute_type, settings.cpu_threads)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = WhisperModel(
                path, device="cpu", compute_type=settings.whisper_compute_type, cpu_threads=settings.cpu_threads
            )
        return _MODELS[key]


def transcribe(
    audio: np.ndarray,
    settings: Settings,
    *,
    language: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> Transcript:
    """`audio` is (channels, samples) at 16 kHz, as `transcription._audio.decode` returns it."""
    model = load_whisper(settings)
    mono = audio.mean(axis=0) if audio.shape[0] > 1 else audio[0]
    duration = mono.shape[0] / SAMPLE_RATE
    if language is None:
        detected, _probability, _all = model.detect_language(audio=mono)
        language = "zh" if detected in ("zh", "yue") else "en" if detected == "en" else detected
    segments, _info = model.transcribe(
        mono,
        language=language,
        beam_size=settings.whisper_beam_size,
        vad_filter=True,
        word_timestamps=True,
        initial_prompt=ZH_PROMPT if language == "zh" else None,
        condition_on_previous_text=False,
    )
    words: list[tuple[float, float, str]] = []
    for segment in segments:
        for word in segment.words or []:
            words.append((word.start, word.end, word.word))
        if progress:
            progress(min(1.0, segment.end / max(duration, 1e-6)))
    if language == "zh":
        words = [(s, e, zhconv.convert(w, "zh-cn")) for s, e, w in words]
    if audio.shape[0] > 1:
        rep_index = 0 if settings.rep_channel == "left" else 1
        turns = _stereo_turns(words, audio, rep_index, language)
        inferred = False
    else:
        turns = _mono_turns(words, language)
        inferred = True
    return Transcript(language=language, duration=round(duration, 2), turns=turns, speakers_inferred=inferred)


def _join(pieces: list[str], language: str) -> str:
    text = "".join(pieces).strip()
    return text if language != "zh" else text.replace(" ", "")


def _group(labelled: list[tuple[str, float, float, str]], pause: float, language: str) -> list[Turn]:
    turns: list[Turn] = []
    current: list[tuple[str, float, float, str]] = []
    for item in labelled:
        if current and (item[0] != current[-1][0] or item[1] - current[-1][2] > pause):
            turns.append(_turn(len(turns), current, language))
            current = []
        current.append(item)
    if current:
        turns.append(_turn(len(turns), current, language))
    return [t for t in turns if t.text]


def _turn(index: int, words: list[tuple[str, float, float, str]], language: str) -> Turn:
    return Turn(index, words[0][0], round(words[0][1], 2), round(words[-1][2], 2), _join([w[3] for w in words], language))


def _stereo_turns(words: list[tuple[float, float, str]], audio: np.ndarray, rep_index: int, language: str) -> list[Turn]:
    labelled = []
    for start, end, text in words:
        lo, hi = int(start * SAMPLE_RATE), max(int(end * SAMPLE_RATE), int(start * SAMPLE_RATE) + 1)
        energy = np.sqrt(np.mean(np.square(audio[:, lo:hi]), axis=1))
        speaker = "rep" if int(np.argmax(energy)) == rep_index else "customer"
        labelled.append((speaker, start, end, text))
    return _group(labelled, TURN_PAUSE_S, language)


def _mono_turns(words: list[tuple[float, float, str]], language: str) -> list[Turn]:
    labelled = []
    speaker = "rep"
    previous_end: float | None = None
    for start, end, text in words:
        if previous_end is not None and start - previous_end > MONO_TURN_PAUSE_S:
            speaker = "customer" if speaker == "rep" else "rep"
        labelled.append((speaker, start, end, text))
        previous_end = end
    return _group(labelled, float("inf"), language)


def turns_from_reference(path: Path) -> Transcript:
    """The timed reference turns of a labelled call's JSON sidecar (for evaluation)."""
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    turns = [Turn(t["index"], t["speaker"], t["start"], t["end"], t["text"]) for t in data["turns"]]
    return Transcript(data["language"], data["audio"]["duration"], turns, speakers_inferred=False)
