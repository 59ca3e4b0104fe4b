"""Decode call recordings with PyAV (no ffmpeg binary): any container PyAV reads, as float32
16 kHz channels. The duration limit is checked from the container header before decoding,
and again while decoding for files whose header does not say."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.core.errors import InvalidInput, UnsupportedMedia

if TYPE_CHECKING:
    from av.container import InputContainer

__all__ = ["SAMPLE_RATE", "SUPPORTED_SUFFIXES", "DecodedAudio", "decode_audio", "probe_duration"]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SUPPORTED_SUFFIXES = frozenset(
    {".wav", ".mp3", ".m4a", ".mp4", ".aac", ".flac", ".ogg", ".oga", ".opus", ".webm", ".amr"}
)
# Below this RMS (about -60 dBFS) a channel holds no speech worth transcribing.
SILENCE_RMS = 1e-3


@dataclass(frozen=True)
class DecodedAudio:
    channels: list[np.ndarray]  # float32 mono arrays at SAMPLE_RATE; 1 or 2 entries
    duration: float

    @property
    def is_stereo(self) -> bool:
        return len(self.channels) == 2

    def mono(self) -> np.ndarray:
        if len(self.channels) == 1:
            return self.channels[0]
        return np.mean(np.stack(self.channels), axis=0).astype(np.float32)

    def is_silent(self) -> bool:
        return all(_rms(ch) < SILENCE_RMS for ch in self.channels)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0


def _open(path: Path, label: str) -> InputContainer:
    import av

    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UnsupportedMedia(
            f"'{label}' is not a supported recording. Send wav, mp3, m4a, flac, ogg, webm or amr audio."
        )
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InvalidInput(
            f"'{label}' could not be read as audio (the file looks damaged). Please export it again and resend it.",
            detail=str(exc),
        ) from exc
    if not container.streams.audio:
        container.close()
        raise UnsupportedMedia(f"'{label}' has no audio track.")
    return container


def probe_duration(path: Path, label: str | None = None) -> float | None:
    """Duration in seconds from the container header (no decoding), or None if unknown."""
    container = _open(path, label or path.name)
    try:
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / 1_000_000
        return None
    finally:
        container.close()


def _too_long(name: str, seconds: float, max_minutes: float) -> InvalidInput:
    return InvalidInput(
        f"'{name}' is {seconds / 60:.0f} minutes long; calls are limited to {max_minutes:.0f} minutes. "
        "Please trim the recording or split it, then send it again."
    )


def decode_audio(path: Path, *, max_minutes: float, label: str | None = None) -> DecodedAudio:
    """Decode to 16 kHz float32, keeping two channels for stereo (one speaker each).
    `label` is the name the user knows the file by (messages use it)."""
    import av

    label = label or path.name

    limit_s = max_minutes * 60
    header = probe_duration(path, label)
    if header is not None and header > limit_s:
        raise _too_long(label, header, max_minutes)
    container = _open(path, label)
    try:
        stream = container.streams.audio[0]
        stereo = (stream.codec_context.channels or 1) >= 2
        resampler = av.AudioResampler(format="fltp", layout="stereo" if stereo else "mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        decoded = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    array = out.to_ndarray()
                    chunks.append(array)
                    decoded += array.shape[1]
                if decoded > limit_s * SAMPLE_RATE:
                    raise _too_long(label, decoded / SAMPLE_RATE, max_minutes)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.error.FFmpegError as exc:
            if not chunks:
                raise InvalidInput(
                    f"'{label}' could not be decoded (the audio data is damaged). Please export it again.",
                    detail=str(exc),
                ) from exc
            # A damaged tail: keep what decoded, say so in the log.
            logger.warning("decoding %s stopped early: %s", label, exc)
    finally:
        container.close()
    if not chunks:
        raise InvalidInput(f"'{label}' contains no audio samples.")
    data = np.concatenate(chunks, axis=1).astype(np.float32)
    channels = [data[i] for i in range(data.shape[0])]
    if len(channels) == 2 and (_rms(channels[0]) < SILENCE_RMS or _rms(channels[1]) < SILENCE_RMS):
        # Dual-mono or one dead channel: treat as a single mixed channel.
        channels = [np.mean(data, axis=0).astype(np.float32)]
    return DecodedAudio(channels=channels, duration=data.shape[1] / SAMPLE_RATE)
