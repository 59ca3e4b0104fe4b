"""Decode any common audio file with PyAV (bundled FFmpeg libraries: no ffmpeg binary).

Returns float32 samples at 16 kHz, one row per channel (stereo kept: one speaker a channel).
The duration limit is checked from the container header before decoding, and again while
decoding, so a 2-hour file is refused in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from bot.errors import InvalidInput, UnsupportedMedia

__all__ = ["AudioInfo", "probe", "decode", "SAMPLE_RATE"]

SAMPLE_RATE = 16_000
SILENCE_RMS = 1e-4  # below this the recording holds no speech at all


@dataclass(frozen=True)
class AudioInfo:
    duration: float
    channels: int
    sample_rate: int
    codec: str


def _open(path: Path, filename: str):  # noqa: ANN202 - av container
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise InvalidInput(
            f"'{filename}' is not a readable audio file (corrupt or unsupported). Export it as WAV, MP3 or M4A and send it again."
        ) from exc
    if not container.streams.audio:
        container.close()
        raise UnsupportedMedia(f"'{filename}' has no audio track.")
    return container


def probe(path: Path, filename: str | None = None) -> AudioInfo:
    filename = filename or path.name
    container = _open(path, filename)
    try:
        stream = container.streams.audio[0]
        if container.duration:
            duration = container.duration / av.time_base
        elif stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = 0.0  # unknown until decoded (e.g. raw AMR): decode() enforces the limit
        return AudioInfo(duration, stream.codec_context.channels or 1, stream.codec_context.sample_rate or 0, stream.codec_context.name)
    finally:
        container.close()


def decode(path: Path, *, max_seconds: float, filename: str | None = None) -> np.ndarray:
    """(channels, samples) float32 in [-1, 1] at 16 kHz; at most two channels."""
    filename = filename or path.name
    info = probe(path, filename)
    if info.duration > max_seconds:
        raise InvalidInput(_too_long(filename, info.duration, max_seconds))
    channels = min(info.channels, 2)
    layout = "stereo" if channels == 2 else "mono"
    container = _open(path, filename)
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
    parts: list[np.ndarray] = []
    total = 0
    limit = int(max_seconds * SAMPLE_RATE)
    try:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                block = out.to_ndarray().reshape(channels, -1)
                parts.append(block)
                total += block.shape[1]
            if total > limit:
                raise InvalidInput(_too_long(filename, total / SAMPLE_RATE, max_seconds))
        for out in resampler.resample(None):
            parts.append(out.to_ndarray().reshape(channels, -1))
    except (av.error.FFmpegError, ValueError) as exc:
        if not parts:
            raise InvalidInput(f"'{filename}' is corrupt: no audio could be decoded from it.") from exc
        # A truncated file: keep what decoded, like any player would.
    finally:
        container.close()
    if not parts:
        raise InvalidInput(f"'{filename}' contains no audio.")
    audio = np.concatenate(parts, axis=1).astype(np.float32)
    if audio.shape[1] < SAMPLE_RATE // 2:
        raise InvalidInput(f"'{filename}' is shorter than half a second: nothing to analyse.")
    if float(np.sqrt(np.mean(np.square(audio)))) < SILENCE_RMS:
        raise InvalidInput(f"'{filename}' is silent: check the microphone or the export and send it again.")
    return audio


def _too_long(filename: str, seconds: float, limit: float) -> str:
    return (
        f"'{filename}' is {seconds / 60:.0f} minutes long; the limit is {limit / 60:.0f} minutes. "
        "Split the recording and send the parts."
    )
