"""Call recordings: decoding, transcription, conversation metrics, the twelve gaps, coaching.

The service (`transcription.service.CallService`, reached as `App.calls`) is the public entry
point; these names are for evaluations, benchmarks and tests.
"""

from transcription.audio import DecodedAudio, decode_audio, probe_duration
from transcription.gaps import GAP_TYPES, Evidence, Finding, GapThresholds, detect_gaps
from transcription.metrics import CallMetrics, compute_metrics, is_open_question, questions_in
from transcription.pipeline import Transcript, analyze_turns, thresholds_from, transcribe_file
from transcription.turns import Turn

__all__ = [
    "DecodedAudio",
    "decode_audio",
    "probe_duration",
    "GAP_TYPES",
    "Evidence",
    "Finding",
    "GapThresholds",
    "detect_gaps",
    "CallMetrics",
    "compute_metrics",
    "is_open_question",
    "questions_in",
    "Transcript",
    "analyze_turns",
    "thresholds_from",
    "transcribe_file",
    "Turn",
    "turns_from_reference",
]


def turns_from_reference(sidecar_turns: list[dict]) -> list[Turn]:
    """Turns from a labelled sidecar's reference `turns` list."""
    return [Turn(int(t["index"]), t["speaker"], float(t["start"]), float(t["end"]), t["text"]) for t in sidecar_turns]
