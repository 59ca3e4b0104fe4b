"""Gap detectors and metrics on small synthetic conversations (not the sample calls' sentences)."""

from __future__ import annotations

import pytest

from bot.core.settings import Settings
from transcription import Turn, compute_metrics, detect_gaps, is_open_question, questions_in, thresholds_from

SETTINGS = thresholds_from(Settings(_env_file=None))


def convo(*lines: str, gap: float = 0.5, seconds: float = 4.0) -> list[Turn]:
    """Alternating turns, rep first; each line 'R: ...' or 'C: ...'."""
    turns, clock = [], 0.0
    for index, line in enumerate(lines):
        speaker = "rep" if line.startswith("R:") else "customer"
        turns.append(Turn(index, speaker, clock, clock + seconds, line[2:].strip()))
        clock += seconds + gap
    return turns


def gaps(turns: list[Turn]) -> set[str]:
    metrics = compute_metrics(turns, turns[-1].end)
    return {f.type for f in detect_gaps(turns, metrics, SETTINGS)}


@pytest.mark.parametrize(
    ("sentence", "is_open"),
    [
        ("What made you start looking now?", True),
        ("And how do your planners build the schedule today?", True),
        ("Is that a priority this year?", False),
        ("Could you share the report?", False),
        ("你们现在用什么系统管理库存？", True),
        ("为什么这个季度退货变多了", True),
        ("这个问题影响大吗？", False),
        ("需不需要走招标？", False),
        ("主要原因是什么？", True),
    ],
)
def test_open_and_closed_questions(sentence: str, is_open: bool) -> None:
    assert is_open_question(sentence) is is_open


def test_metrics_talk_ratio_monologue_patience_and_interactivity() -> None:
    turns = [
        Turn(0, "rep", 0.0, 30.0, "Let me tell you about us."),
        Turn(1, "rep", 30.5, 70.0, "And more about us."),
        Turn(2, "customer", 71.0, 80.0, "Okay."),
        Turn(3, "rep", 82.0, 90.0, "What do you think?"),
    ]
    metrics = compute_metrics(turns, 90.0)
    assert metrics.rep_talk_ratio == pytest.approx(77.5 / 86.5, abs=1e-3)
    assert metrics.longest_monologue_s == pytest.approx(69.5)
    assert metrics.patience_s == pytest.approx(2.0)
    assert metrics.interactivity == pytest.approx(2 / 1.5, abs=0.01)
    assert metrics.open_question_turns == 1
    assert {"monologue_excess", "discovery_questions_lacking"} <= gaps(turns)


def test_a_good_english_discovery_call_shows_no_gaps() -> None:
    turns = convo(
        "R: Thanks for joining. What prompted you to look at warehouse software now?",
        "C: Our pickers waste time; we keep missing same-day shipments.",
        "R: Why do the misses happen, and how much do they cost you a month?",
        "C: Mostly bad slotting. Roughly forty thousand dollars in refunds.",
        "R: Teams like yours cut refunds by 30% in six months, so it pays for itself within a year.",
        "C: We're also evaluating Acme WMS.",
        "R: Good to compare. The difference is our slotting engine re-plans every night, which Acme doesn't do.",
        "C: Our security team worries about single sign-on.",
        "R: Yes, we support SAML SSO and I'll send our SOC 2 report today.",
        "C: Budget is limited and anything over 50k needs approval.",
        "R: How much have you set aside, and who approves spend above that?",
        "C: About 60k; our CFO Dana signs.",
        "R: How will you compare vendors, and by when do you want to decide?",
        "C: Ease of use, before the end of the quarter.",
        "R: I'll send the proposal by Friday; can we book a demo with Dana next Tuesday at 10 am?",
        "C: Yes, let's do that.",
    )
    assert gaps(turns) == set()


def test_doors_left_shut_in_chinese() -> None:
    turns = convo(
        "R: 王总您好，我先介绍一下我们的平台，功能很全面。",
        "C: 我们门店的库存问题很大，经常断货。",
        "R: 明白，我们系统很好用，界面也漂亮。",
        "C: 我们也在跟另一家供应商接触。",
        "R: 好的，理解。",
        "C: 另外集团刚宣布明年要开五十家社区店。",
        "R: 嗯，好的。我们上线很快。",
        "C: 数据要放在我们自己的机房，你们能满足吗？",
        "R: 这个后期再说，先不用担心。",
        "C: 一年三十万太贵了，而且今年预算很紧。",
        "R: 那我给您打个九折。",
        "C: 好，我回去跟领导汇报一下。",
        "R: 好的，那您考虑一下，有需要随时联系我。",
    )
    assert gaps(turns) >= {
        "pain_unexplored",
        "competitor_unaddressed",
        "strategy_unlinked",
        "concern_unresolved",
        "price_objection_mishandled",
        "budget_unclarified",
        "decision_maker_unknown",
        "decision_process_unclear",
        "value_unquantified",
        "next_step_missing",
        "discovery_questions_lacking",
    }


def test_every_finding_carries_evidence_with_times_and_quotes() -> None:
    turns = convo("R: Hello.", "C: Honestly it's too expensive for us.", "R: I can give you 15% off today.")
    findings = detect_gaps(turns, compute_metrics(turns, turns[-1].end), SETTINGS)
    price = next(f for f in findings if f.type == "price_objection_mishandled")
    assert [e.turn for e in price.evidence] == [1, 2]
    assert price.evidence[0].quote == "Honestly it's too expensive for us." and price.evidence[0].start == 4.5
    assert all(f.evidence and 0 < f.confidence <= 1 and f.severity in ("low", "medium", "high") for f in findings)


def test_probing_a_price_objection_is_good_handling() -> None:
    turns = convo("R: Hi.", "C: 价格太高了。", "R: 您是跟什么方案比较的？")
    assert "price_objection_mishandled" not in gaps(turns)


def test_thresholds_are_settings() -> None:
    turns = convo("R: We do this and that.", "C: Ok.", "R: And also this.", seconds=10)
    strict = thresholds_from(Settings(_env_file=None, monologue_ratio_threshold=0.5))
    lenient = thresholds_from(Settings(_env_file=None, monologue_ratio_threshold=0.9, min_open_questions=0))
    metrics = compute_metrics(turns, turns[-1].end)
    assert "monologue_excess" in {f.type for f in detect_gaps(turns, metrics, strict)}
    found = {f.type for f in detect_gaps(turns, metrics, lenient)}
    assert "monologue_excess" not in found and "discovery_questions_lacking" not in found


def test_questions_in_splits_sentences() -> None:
    assert questions_in("Great. How do you track it today? Is it manual?") == [
        ("How do you track it today?", True),
        ("Is it manual?", False),
    ]
