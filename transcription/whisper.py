"""faster-whisper, loaded once per process, streaming segments with progress.

The packaged multilingual base model is the default; any faster-whisper size name or local
folder may be configured in `whisper_model`. Chinese comes out in simplified characters (an
initial prompt in simplified Chinese, then zhconv for anything left over)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bot.core.errors import ConfigurationError
from bot.core.settings import Settings

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = ["ZH_PROMPT", "Segment", "detect_language", "load_model", "transcribe"]

ZH_PROMPT = "以下是普通话的句子。"

_models: dict[tuple[str, str, int], WhisperModel] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


def _model_source(settings: Settings) -> str:
    if settings.whisper_model in ("base", "packaged"):
        from bot.core.assets import whisper_base_dir

        return str(whisper_base_dir(settings.model_cache_dir))
    return settings.whisper_model  # a size name (needs a hub or cache) or a local folder


def load_model(settings: Settings) -> WhisperModel:
    """The Whisper model for these settings; loaded once and shared by every call."""
    source = _model_source(settings)
    key = (source, settings.whisper_compute_type, settings.cpu_threads)
    with _lock:
        model = _models.get(key)
        if model is None:
            from faster_whisper import WhisperModel

            try:
                model = WhisperModel(
                    source, device="cpu", compute_type=settings.whisper_compute_type, cpu_threads=settings.cpu_threads
                )
            except Exception as exc:
                raise ConfigurationError(
                    f"The speech model '{settings.whisper_model}' could not be loaded. "
                    "Set COPILOT_WHISPER_MODEL to 'base' or a local faster-whisper folder.",
                    detail=str(exc),
                ) from exc
            _models[key] = model
        return model


def detect_language(model: WhisperModel, samples: np.ndarray) -> str:
    """zh or en, from the first 30 s of speech (other languages fall back to the likelier of the two)."""
    _, _, probabilities = model.detect_language(samples, vad_filter=True)
    scores = dict(probabilities or [])
    return "zh" if scores.get("zh", 0.0) >= scores.get("en", 0.0) else "en"


def _simplified(text: str) -> str:
    import zhconv

    return zhconv.convert(text, "zh-cn")


def transcribe(
    model: WhisperModel,
    samples: np.ndarray,
    *,
    language: str,
    beam_size: int = 1,
    on_segment: Callable[[Segment], None] | None = None,
) -> list[Segment]:
    """Transcribe one channel; segments are streamed to `on_segment` as they are decoded."""
    segments, _info = model.transcribe(
        samples,
        language=language,
        beam_size=beam_size,
        vad_filter=True,
        initial_prompt=ZH_PROMPT if language == "zh" else None,
        condition_on_previous_text=False,
    )
    out: list[Segment] = []
    for seg in segments:
        text = seg.text.strip()
        if language == "zh":
            text = _simplified(text)
        if not text:
            continue
        segment = Segment(start=float(seg.start), end=float(seg.end), text=text)
        out.append(segment)
        if on_segment is not None:
            on_segment(segment)
    return out
