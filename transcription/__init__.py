"""Call recordings: decoding, transcription, conversation metrics, the twelve gaps, coaching."""

from transcription._asr import Transcript, Turn, transcribe, turns_from_reference
from transcription._audio import AudioInfo, decode, probe
from transcription._gaps import GAP_NAMES, GAP_TYPES, Evidence, Finding, detect_gaps
from transcription._metrics import CallMetrics, compute_metrics, is_open_question, questions_in

__all__ = [
    "Transcript",
    "Turn",
    "transcribe",
    "turns_from_reference",
    "AudioInfo",
    "decode",
    "probe",
    "GAP_TYPES",
    "GAP_NAMES",
    "Evidence",
    "Finding",
    "detect_gaps",
    "CallMetrics",
    "compute_metrics",
    "is_open_question",
    "questions_in",
]
