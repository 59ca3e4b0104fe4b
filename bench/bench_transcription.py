"""Transcription speed: the whole call pipeline vs. bare faster-whisper on the same file and
model in one run, and the real-time factor.

    .venv/bin/python bench/bench_transcription.py [FILE ...]

"bare" = `WhisperModel.transcribe` on each channel with the pipeline's own decoding options
(language given, beam, VAD, int8, cpu_threads), consuming the segments and nothing else.
"pipeline" = `transcribe_file` (PyAV decode, language detection, both channels, energy-aligned
turns) + metrics + the twelve gap detectors. speed ratio = bare time / pipeline time (>= 0.9
means the pipeline adds at most ~10%). RTF = processing seconds / audio seconds.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.assets import set_hub_offline
from bot.core.settings import Settings
from transcription.audio import decode_audio
from transcription.pipeline import analyze_turns, thresholds_from, transcribe_file
from transcription.whisper import ZH_PROMPT, load_model

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

DEFAULT_FILES = [
    ROOT / "bot/demo/calls/a1_en_fleet_telematics.flac",
    ROOT / "bot/demo/calls/a4_zh_auto_parts_maintenance.flac",
]


def bare(model: WhisperModel, path: Path, settings: Settings, language: str) -> float:
    audio = decode_audio(path, max_minutes=settings.max_call_minutes)
    started = time.perf_counter()
    for channel in audio.channels:
        segments, _ = model.transcribe(
            channel,
            language=language,
            beam_size=settings.whisper_beam_size,
            vad_filter=True,
            initial_prompt=ZH_PROMPT if language == "zh" else None,
            condition_on_previous_text=False,
        )
        for _ in segments:
            pass
    return time.perf_counter() - started


def main() -> None:
    set_hub_offline()
    files = [Path(p) for p in sys.argv[1:]] or DEFAULT_FILES
    settings = Settings(_env_file=None, data_dir=Path(tempfile.mkdtemp(prefix="bench-tx-")))
    started = time.perf_counter()
    model = load_model(settings)
    print(f"model load: {time.perf_counter() - started:.1f}s (once per process)")
    print(f"{'file':42} {'audio s':>8} {'bare s':>7} {'pipe s':>7} {'ratio':>6} {'RTF':>6}")
    for path in files:
        # Warm-up on this file so neither side pays first-use costs.
        transcript = transcribe_file(path, settings)
        bare_s = bare(model, path, settings, transcript.language)
        t0 = time.perf_counter()
        transcript = transcribe_file(path, settings)
        analyze_turns(transcript.turns, thresholds_from(settings), transcript.duration)
        pipe_s = time.perf_counter() - t0
        ratio, rtf = bare_s / pipe_s, pipe_s / transcript.duration
        print(f"{path.name:42} {transcript.duration:8.1f} {bare_s:7.1f} {pipe_s:7.1f} {ratio:6.2f} {rtf:6.3f}")
    print("note: the CPU may be shared with other work; figures are pessimistic then.")


if __name__ == "__main__":
    main()
