"""The LLM judge seam (scripted fake models), coaching content and role-play, turn alignment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bot.app import App
from bot.core.settings import Settings
from bot.core.text import t
from transcription import Finding, Turn, compute_metrics, detect_gaps, thresholds_from
from transcription.coaching import coaching_for, roleplay_for
from transcription.gaps import GAP_TYPES
from transcription.judge import ChatModelJudge, LocalJudge, Verdict, apply_judge, judge_prompt
from transcription.semantic import SemanticDoors, semantic_doors
from transcription.turns import infer_speakers, merge_channels, segments_to_turns, voiced_islands
from transcription.whisper import Segment

TURNS = [
    Turn(0, "rep", 0.0, 3.0, "Hello, thanks for your time."),
    Turn(1, "customer", 3.5, 7.0, "We are also talking to Acme about this."),
    Turn(2, "rep", 7.5, 9.0, "Sure, no problem."),
    Turn(3, "customer", 9.5, 12.0, "Honestly the price seems high."),
    Turn(4, "rep", 12.5, 14.0, "I can do 20% off."),
]


def findings() -> list[Finding]:
    return detect_gaps(TURNS, compute_metrics(TURNS), thresholds_from(Settings(_env_file=None)))


class ScriptedJudge:
    def __init__(self, verdicts: dict[str, Verdict]) -> None:
        self.verdicts = verdicts
        self.seen: list[str] = []

    def judge(self, finding, transcript: str) -> Verdict:
        self.seen.append(finding.type)
        assert "Acme" in transcript  # the judge sees the transcript
        if finding.type not in self.verdicts:
            raise RuntimeError("model down")
        return self.verdicts[finding.type]


def test_judge_confirms_rejects_and_never_loses_a_finding_when_it_fails() -> None:
    rule = findings()
    types = {f.type for f in rule}
    assert {"competitor_unaddressed", "price_objection_mishandled"} <= types
    judge = ScriptedJudge(
        {
            "competitor_unaddressed": Verdict(present=True, confidence=0.9, reason="turn 2 gives no differentiator"),
            "price_objection_mishandled": Verdict(present=False, confidence=0.9, reason="fine"),
        }
    )
    kept = {f.type: f for f in apply_judge(judge, rule, TURNS)}
    assert "price_objection_mishandled" not in kept
    assert kept["competitor_unaddressed"].judged_by == "llm"
    assert "differentiator" in kept["competitor_unaddressed"].summary
    failed = [t for t in types if t not in judge.verdicts]
    assert all(kept[t].judged_by == "rules" for t in failed)  # judge errors keep the rule finding
    assert set(judge.seen) == types


def test_a_weak_rejection_keeps_the_finding() -> None:
    judge = ScriptedJudge({f.type: Verdict(present=False, confidence=0.3) for f in findings()})
    assert {f.type for f in apply_judge(judge, findings(), TURNS)} == {f.type for f in findings()}


class _StructuredFake:
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.prompts: list[str] = []

    def with_structured_output(self, schema):
        assert schema is Verdict
        outer = self

        class Runnable:
            def invoke(self, prompt: str):
                outer.prompts.append(prompt)
                return schema.model_validate(outer.payload)

        return Runnable()


def test_chat_model_judge_uses_structured_output() -> None:
    model = _StructuredFake({"present": True, "confidence": 0.8, "reason": "ok"})
    verdict = ChatModelJudge(model).judge(findings()[0], "0 rep: hi")
    assert verdict.present and verdict.confidence == 0.8
    assert findings()[0].type in model.prompts[0]


def test_local_judge_constrains_output_to_the_verdict_schema() -> None:
    class FakeLocal:
        def choose(self, messages, schema, max_tokens=160):
            assert schema["properties"].keys() >= {"present", "confidence"}
            return {"present": False, "confidence": 0.7, "reason": "answered"}

    assert LocalJudge(FakeLocal()).judge(findings()[0], "x").present is False


def test_the_judge_prompt_is_the_shared_template_filled_in() -> None:
    competitor = next(f for f in findings() if f.type == "competitor_unaddressed")
    prompt = judge_prompt(competitor, "1 customer [3s]: We are also talking to Acme about this.")
    assert prompt.startswith("You review a sales call transcript for one coaching gap.")
    assert f"Gap: competitor_unaddressed - {competitor.summary}" in prompt
    assert "[door] We are also talking to Acme about this." in prompt and "{" not in prompt


@pytest.mark.parametrize(
    ("overrides", "judged"),
    [
        ({"llm_provider": "none"}, False),
        ({"llm_provider": "local"}, False),  # ~30 s a finding on 2 cores: only when asked for
        ({"llm_provider": "openai", "gap_llm_judge": "off"}, False),
        (
            {
                "llm_provider": "openai",
                "llm_model": "gpt-4o-mini",
                "openai_api_key": "sk-test",
                "openai_base_url": "http://127.0.0.1:9/v1",
            },
            True,
        ),
    ],
)
def test_no_judge_without_an_llm_or_with_the_slow_local_default(tmp_path, overrides, judged) -> None:
    app = App(Settings(_env_file=None, data_dir=tmp_path, **overrides))
    try:
        assert (app.calls.judge is not None) is judged
    finally:
        app.close()


def test_every_gap_has_a_talk_track_and_a_goal_in_both_languages() -> None:
    for gap in GAP_TYPES:
        assert t(f"coaching.talk_track.{gap}", "en") != t(f"coaching.talk_track.{gap}", "zh")
        assert t(f"coaching.goal.{gap}", "en") != t(f"coaching.goal.{gap}", "zh")


def test_coaching_without_a_knowledge_base_has_no_lessons_but_still_coaches() -> None:
    for finding in findings():
        en = coaching_for(None, None, finding, "en")
        zh = coaching_for(None, None, finding, "zh")
        assert en.talk_track == t(f"coaching.talk_track.{finding.type}", "en")
        assert zh.talk_track == t(f"coaching.talk_track.{finding.type}", "zh")
        assert en.lessons == [] and zh.lessons == []
        assert en.roleplay is not None and en.roleplay.gap_type == finding.type
        assert en.to_dict()["roleplay"]["goal"] == t(f"coaching.goal.{finding.type}", "en")


def test_roleplay_opens_with_the_customers_words() -> None:
    competitor = next(f for f in findings() if f.type == "competitor_unaddressed")
    play = roleplay_for(competitor, "en")
    assert play.opening_line == "We are also talking to Acme about this."
    assert play.success_criteria == [
        t("coaching.goal.competitor_unaddressed", "en"),
        t("coaching.talk_track.competitor_unaddressed", "en"),
    ]
    assert play.instructions == t("coaching.roleplay.instructions", "en")
    chinese = roleplay_for(competitor, "zh")
    assert chinese.language == "zh" and chinese.persona == t("coaching.roleplay.persona", "zh")
    # With no customer words to quote (an absence), the catalogue's opening line starts it.
    missing = next(f for f in findings() if f.type == "decision_maker_unknown")
    assert roleplay_for(missing, "zh").opening_line == t("coaching.roleplay.opening", "zh")


def _tone(seconds: float, freq: float, rate: int = 16000) -> np.ndarray:
    clock = np.arange(int(seconds * rate)) / rate
    return (0.1 * np.sin(2 * np.pi * freq * clock)).astype(np.float32)


def test_voiced_islands_split_at_long_pauses_and_text_is_laid_on_them() -> None:
    gap = np.zeros(16000 * 2, dtype=np.float32)
    samples = np.concatenate([_tone(1.0, 200), gap, _tone(1.5, 200)])
    islands = voiced_islands(samples)
    assert len(islands) == 2 and abs(islands[1][0] - 3.0) < 0.05
    # One Whisper segment spanning both islands is split at a sentence break.
    pieces = segments_to_turns([Segment(0.0, 4.5, "First part. Second part here.")], islands, language="en")
    assert [p[2] for p in pieces] == ["First part.", "Second part here."]
    turns = merge_channels({"rep": pieces[:1], "customer": pieces[1:]}, language="en")
    assert [t.speaker for t in turns] == ["rep", "customer"] and turns[1].index == 1


def test_mono_speakers_are_clustered_by_pitch() -> None:
    low, high = _tone(1.0, 110), _tone(1.0, 230)
    samples = np.concatenate([low, high, low, high])
    islands = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)]
    assert infer_speakers(samples, islands) == ["rep", "customer", "rep", "customer"]


class KeywordEmbedder:
    """A stand-in sentence embedder: texts about rivals point one way, everything else another."""

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        rival = ("vendor", "supplier", "供应商", "厂商", "pitched")
        return np.array([[1.0, 0.0] if any(w in text for w in rival) else [0.0, 1.0] for text in texts])


def test_embedding_matching_opens_doors_the_lexicon_misses() -> None:
    turns = [
        Turn(0, "rep", 0.0, 2.0, "What matters most to you?"),
        Turn(1, "customer", 2.5, 5.0, "A rival firm pitched us last week."),
        Turn(2, "rep", 5.5, 7.0, "Okay, thanks."),
    ]
    th = thresholds_from(Settings(_env_file=None))
    metrics = compute_metrics(turns)
    assert "competitor_unaddressed" not in {f.type for f in detect_gaps(turns, metrics, th)}
    doors = SemanticDoors(KeywordEmbedder(), threshold=0.5).doors(turns)
    assert doors["competitor"] == {1} and not doors["budget"]
    found = {f.type: f for f in detect_gaps(turns, metrics, th, doors)}
    assert found["competitor_unaddressed"].evidence[0].turn == 1


def test_the_embedding_matcher_is_off_at_threshold_zero_and_rules_go_on_without_an_encoder(caplog) -> None:
    def unavailable() -> KeywordEmbedder:
        raise OSError("model files missing")

    def must_not_load() -> KeywordEmbedder:
        raise AssertionError("a threshold of 0 must not load the encoder")

    assert semantic_doors(must_not_load, 0.0) is None
    assert semantic_doors(unavailable, 0.5) is None
    assert "lexicon only" in caplog.text
    matcher = semantic_doors(KeywordEmbedder, 0.5)
    assert isinstance(matcher, SemanticDoors) and matcher.threshold == 0.5
