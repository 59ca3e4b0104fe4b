"""Call recordings: decoding, transcription, conversation metrics, the twelve gaps, coaching.

`transcription.service.CallService` is the entry point the composition root builds;
`transcription.heatmap.gap_heatmap` is the team view other services read. The names here
are the pure parts (turns, metrics, gap detection and their results), for evaluations,
benchmarks and tests. Importing the package loads no speech model and no audio library.
"""

from transcription.findings import Coaching, Evidence, Finding, Lesson, RolePlay
from transcription.gaps import GAP_TYPES, GapThresholds, detect_gaps
from transcription.metrics import CallMetrics, compute_metrics, is_open_question, questions_in
from transcription.pipeline import Transcript, analyze_turns, thresholds_from, transcribe_file
from transcription.turns import Turn

__all__ = [
    "GAP_TYPES",
    "CallMetrics",
    "Coaching",
    "Evidence",
    "Finding",
    "GapThresholds",
    "Lesson",
    "RolePlay",
    "Transcript",
    "Turn",
    "analyze_turns",
    "compute_metrics",
    "detect_gaps",
    "is_open_question",
    "questions_in",
    "thresholds_from",
    "transcribe_file",
]
