"""The data tools' facts: figures formatted for people in both languages, the engines' own
rankings kept, and nothing named that the result does not hold."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.core.models import Account, CallStatus, User
from bot.core.text import LANGUAGES, messages
from chains.facts import CallCoaching, Facts, WhatIfComparison, render_facts
from insights._data import OPEN
from insights.accounts import (
    FocusDeal,
    OpportunityLine,
    PipelineView,
    StageTotal,
    account_overview,
    my_pipeline,
)
from insights.forecast import WHAT_IF_PARAMETERS, forecast
from insights.resonance import ResonanceResult, SignalContribution, load_dimensions, resonance
from insights.risk import SEVERITY_ORDER, AlertView, evaluate, list_alerts
from insights.summary import territory_summary
from tests.conftest import DEMO_DAY
from transcription.findings import Coaching, Evidence, Finding, Lesson
from transcription.heatmap import GapHeatmap
from transcription.metrics import CallMetrics
from transcription.service import CallAnalysis, GapCoaching

# A number as people write it: grouped in threes, no float tail ("170,1400.0" is neither).
_NUMBER = re.compile(r"\d+(?:,\d+)*(?:\.\d+)?")
_GROUPED = re.compile(r"(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?")


def assert_for_people(facts: Facts) -> None:
    """Every figure is in the text; numbers are grouped, amounts whole, nothing raw."""
    assert facts.text.strip()
    for figure in facts.figures:
        assert figure in facts.text, figure
    for number in _NUMBER.findall(facts.text):
        assert _GROUPED.fullmatch(number), number
    assert not re.search(r"\d\.\d+ (?:CNY|USD)", facts.text), "an amount with decimals"
    assert not re.search(r"(?<![\d,.])\d{4,} (?:CNY|USD)", facts.text), "an amount without separators"
    assert len(facts.text.splitlines()) <= 12


def _lines(deals: list[tuple[float, str, str, str]]) -> list[OpportunityLine]:
    """Open deals from (amount, currency, stage, expected close)."""
    return [
        OpportunityLine(
            id=i,
            name=f"Deal {i}",
            account=f"Account {i}",
            owner="li.wei",
            amount=amount,
            currency=currency,
            stage=stage,
            expected_close=close,
            days_in_stage=12,
            competitor=None,
        )
        for i, (amount, currency, stage, close) in enumerate(deals, start=1)
    ]


def _alert(number: int, severity: str, account: str = "Acme Ltd") -> AlertView:
    return AlertView(
        id=number,
        rule_id="competitor_push_slow_stock",
        severity=severity,
        account=account,
        territory="East China",
        message=f"Inventory turnover at 54.3 days (alert {number}).",
        remedies=["Visit the account this week."],
        evidence={"message_zh": f"库存周转54.3天（预警 {number}）。"},
        status="open",
        created_at="2026-11-20T08:00:00",
    )


def _focus(number: int, amount: float, expected: float, risks: list[AlertView] | None = None) -> FocusDeal:
    return FocusDeal(
        id=number,
        name=f"Focus {number}",
        account=f"Account {number}",
        amount=amount,
        currency="CNY",
        stage="proposal",
        expected_close="2026-12-15",
        win_probability=0.654,
        in_period_probability=0.72,
        expected_value=expected,
        risks=risks or [],
    )


def _pipeline(**changes: object) -> PipelineView:
    lines = _lines([(1_201_400.0, "CNY", "proposal", "2026-12-20"), (500_000.0, "CNY", "prospecting", "2027-02-01")])
    view = PipelineView(
        owner="li.wei",
        period="2026-Q4",
        currency="CNY",
        by_stage=[
            StageTotal(s, sum(o.stage == s for o in lines), sum(o.amount for o in lines if o.stage == s)) for s in OPEN
        ],
        open_total=1_701_400.0,
        closing_this_period=1_201_400.0,
        target=2_000_000.0,
        coverage=1.2345,
        opportunities=lines,
        focus=[_focus(7, 300_000.0, 150_000.5), _focus(8, 2_500_000.0, 99_999.4)],
    )
    return replace(view, **changes)


# --- pipeline ------------------------------------------------------------------------------------


def test_a_pipeline_reads_in_whole_grouped_amounts_in_both_languages() -> None:
    view = _pipeline()
    for language in LANGUAGES:
        facts = render_facts("my_pipeline", view, language)
        assert_for_people(facts)
        assert "1,701,400 CNY" in facts.text and "1701400" not in facts.text
        assert "1,201,400 CNY" in facts.text  # closing this quarter
        assert "123%" in facts.text and "2,000,000 CNY" in facts.text  # coverage of the target
        assert "150,000 CNY" in facts.text and "150,000.5" not in facts.text
        assert {"1,701,400 CNY", "2", "2026-Q4", "Focus 7", "65%", "72%"} <= set(facts.figures)
    assert "proposal 1 (1,201,400 CNY)" in render_facts("my_pipeline", view, "en").text
    assert "方案 1 个（1,201,400 CNY）" in render_facts("my_pipeline", view, "zh").text


def test_the_focus_list_keeps_the_engines_order_and_names_the_risks() -> None:
    # The bigger deal ranks second: the order is the engine's expected value, not the amount.
    view = _pipeline(focus=[_focus(7, 300_000.0, 150_000.0, [_alert(1, "high")]), _focus(8, 2_500_000.0, 99_000.0)])
    en = render_facts("my_pipeline", view, "en").text
    assert en.index("1. Focus 7") < en.index("2. Focus 8")
    assert "amount × learned win rate" in en
    assert "⚠ high risk: Inventory turnover at 54.3 days (alert 1)." in en
    zh = render_facts("my_pipeline", view, "zh").text
    assert "⚠ 高风险：库存周转54.3天（预警 1）。" in zh and "赢单率 65%" in zh


def test_mixed_currencies_are_never_added_up_and_long_lists_become_tables() -> None:
    lines = _lines(
        [(100_000.0, "CNY", "proposal", "2026-12-01")] * 4 + [(20_000.0, "USD", "proposal", "2027-03-01")] * 3
    )
    focus = [_focus(n, 10_000.0, 10_000.0 - n) for n in range(8)]
    view = _pipeline(currency="CNY,USD", opportunities=lines, target=None, coverage=None, focus=focus)
    facts = render_facts("my_pipeline", view, "en")
    assert_for_people(facts)
    assert "400,000 CNY + 60,000 USD in 7 open deals" in facts.text
    assert "Closing in 2026-Q4: 400,000 CNY; no target" in facts.text
    assert "6. Focus 5" not in facts.text  # the text shows five, the table all of them
    focus_table, deals_table = facts.tables
    assert [row[1] for row in focus_table.rows] == [f"Focus {n}" for n in range(8)]
    assert len(deals_table.rows) == 7 and deals_table.rows[0][3] == "100,000 CNY"
    assert render_facts("my_pipeline", _pipeline(opportunities=[]), "zh").text == messages("zh")["facts.pipeline.empty"]


def test_the_demo_pipeline_focus_is_the_forecasts_own_ranking(org_app, identity_of) -> None:
    rep = identity_of("li.wei")
    with org_app.db.session() as session:
        view = my_pipeline(session, rep, today=DEMO_DAY)
        plan = forecast(session, rep, "rep:li.wei", today=DEMO_DAY, snapshot=False)
    assert view.focus, "the demo rep has open deals"
    values = [d.expected_value for d in view.focus]
    assert values == sorted(values, reverse=True)
    assert [d.id for d in view.focus[:3]] == [p.id for p in plan.top_opportunities]
    total = f"{round(sum(o.amount for o in view.opportunities)):,} {view.currency}"
    for language in LANGUAGES:
        facts = render_facts("my_pipeline", view, language)
        assert_for_people(facts)
        assert total in facts.text and f" {len(view.opportunities)} " in facts.text
        for rank, deal in enumerate(view.focus[:5], start=1):
            assert f"\n{rank}. {deal.name}" in facts.text


# --- forecast and what-if ------------------------------------------------------------------------


def test_forecasts_say_the_range_the_gap_and_exactly_the_accuracy_they_carry(org_app, identity_of) -> None:
    manager = identity_of("wang.fang")
    with org_app.db.session() as session:
        plain = forecast(session, manager, "territory:East China", today=DEMO_DAY, snapshot=False)
        scenario = forecast(
            session, manager, "territory:East China", today=DEMO_DAY, what_if={"win_rate_shift": 0.05}, snapshot=False
        )
    money = f"{round(plain.point):,} CNY"
    for language in LANGUAGES:
        facts = render_facts("forecast", plain, language)
        assert_for_people(facts)
        assert money in facts.text and f"{round(plain.upper):,} CNY" in facts.text
        assert f"{round(plain.accuracy.mape * 100)}%" in facts.text and f"{plain.accuracy.mase:.2f}" in facts.text
        assert str(plain.accuracy.periods) in facts.figures
        for pick in plain.top_opportunities:
            assert pick.name in facts.text
    en = render_facts("forecast", plain, "en").text
    assert "backtest over 8 past periods" in en and "tracked" not in en
    tracked = replace(plain, accuracy=replace(plain.accuracy, source="tracked", mape=None, periods=3))
    assert "tracked over 3 closed periods: MAPE n/a" in render_facts("forecast", tracked, "en").text
    ahead = replace(plain, target=1_000_000.0, gap_to_target=1_000_000.0 - plain.point, attainment_forecast=1.85)
    above = f"{round(plain.point - 1_000_000):,} CNY above it (185% of target)"
    assert above in render_facts("forecast", ahead, "en").text
    assert "未设目标" in render_facts("forecast", replace(plain, target=None, gap_to_target=None), "zh").text

    compared = render_facts("what_if_forecast", WhatIfComparison(plain, scenario), "en")
    assert_for_people(compared)
    delta = f"{round(scenario.point - plain.point):+,} CNY"
    assert "win rate +5 points" in compared.text and f"Without the change: {money} ({delta})" in compared.text
    assert "赢单率 +5 个百分点" in render_facts("what_if_forecast", scenario, "zh").text


def test_every_what_if_driver_stage_and_severity_has_words_in_both_languages() -> None:
    for language in LANGUAGES:
        catalogue = messages(language)
        assert {f"facts.what_if.{name}" for name in WHAT_IF_PARAMETERS} <= set(catalogue)
        assert {f"facts.stage.{stage}" for stage in OPEN} <= set(catalogue)
        assert {f"facts.severity.{severity}" for severity in SEVERITY_ORDER} <= set(catalogue)


# --- resonance -----------------------------------------------------------------------------------


def test_resonance_names_only_the_signals_the_score_lists(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        result = resonance(session, identity_of("wang.fang"), "上海恒通保险有限公司", today=DEMO_DAY)
    assert result.top_signals and result.buyer_type
    names = load_dimensions().names
    listed = {s.signal for s in result.top_signals}
    for language in LANGUAGES:
        facts = render_facts("resonance_score", result, language)
        assert_for_people(facts)
        named = {signal for signal, name in names.items() if name[language] in facts.text}
        assert named == listed
        for signal in result.top_signals:
            assert f"{round(signal.contribution * 100)}%" in facts.text
            assert str(signal.contribution) not in facts.text  # a share, not a raw fraction
        assert f"{result.score:.1f} / 100" in facts.text and f"{result.change_30d:+.1f}" in facts.text


def test_a_quiet_account_gets_no_invented_reasons() -> None:
    quiet = ResonanceResult(
        account="Acme Ltd",
        as_of="2026-11-23",
        score=4.0,
        buyer_type="cost",
        buyer_type_en="cost-sensitive",
        buyer_type_zh="成本敏感型",
        buyer_type_shares={"cost": 1.0},
        top_signals=[SignalContribution("pricing_page_visit", "Pricing page visits", "访问价格页面", 1.0, 1)],
        change_7d=-1.5,
        change_30d=0.0,
    )
    en = render_facts("resonance_score", quiet, "en")
    assert_for_people(en)
    assert "4.0 / 100 (-1.5 over 7 days, +0.0 over 30 days)" in en.text
    assert "Pricing page visits: 100% (1×)" in en.text and "Next actions" not in en.text
    silent = replace(quiet, buyer_type=None, buyer_type_shares={}, top_signals=[])
    zh = render_facts("resonance_score", silent, "zh").text
    assert "没有记录到买家信号" in zh and "买家类型" not in zh


# --- risk alerts, summaries, accounts ------------------------------------------------------------


def test_risk_alerts_count_by_severity_and_table_the_long_list() -> None:
    alerts = [_alert(n, severity) for n, severity in enumerate(["high", "high", "medium", "low", "low", "low", "low"])]
    facts = render_facts("risk_alerts", alerts, "en")
    assert_for_people(facts)
    assert facts.text.startswith("7 open risk alerts: 2 high, 1 medium, 4 low.")
    assert facts.text.count("\n- ") == 5 and "Next step: Visit the account this week." in facts.text
    (table,) = facts.tables
    assert len(table.rows) == 7 and table.rows[0][4] == "2026-11-20"
    zh = render_facts("risk_alerts", alerts[:1], "zh")
    assert "【高】Acme Ltd：库存周转54.3天（预警 0）。建议：" in zh.text and zh.tables == []
    assert render_facts("risk_alerts", [], "en").text == "No open risk alerts."


def test_a_territory_summary_and_an_account_overview_from_the_demo_org(org_app, identity_of) -> None:
    manager, rep = identity_of("wang.fang"), identity_of("li.wei")
    with org_app.db.session() as session:
        evaluate(session, DEMO_DAY)
        alerts = list_alerts(session, manager)
        summary = territory_summary(session, manager, None, today=DEMO_DAY)
        owner = session.scalar(select(User).where(User.handle == "li.wei"))
        key_account = session.scalar(select(Account).where(Account.owner_id == owner.id, Account.is_key_account))
        overview = account_overview(session, rep, key_account.name, today=DEMO_DAY)
    for language in LANGUAGES:
        for tool, result in (("risk_alerts", alerts), ("territory_summary", summary), ("account_overview", overview)):
            assert_for_people(render_facts(tool, result, language))
    en = render_facts("territory_summary", summary, "en").text
    assert f"booked {round(summary.booked):,} CNY of the {round(summary.target):,} CNY target" in en
    assert f"{round(summary.pipeline.open_amount):,} CNY in {summary.pipeline.open_deals} open deals" in en
    assert summary.top_opportunities[0].name in en and "No calls analysed yet" in en
    heatmap = GapHeatmap(
        territory="East China",
        since=None,
        until=None,
        reps=["li.wei", "zhang.min"],
        rep_names=["李伟 Li Wei", "张敏 Zhang Min"],
        gap_types=["budget_unclarified", "next_step_missing"],
        calls=[3, 2],
        counts=[[1, 2], [0, 0]],
        rates=[[0.33, 0.67], [0.0, 0.0]],
    )
    with_calls = render_facts("territory_summary", replace(summary, gap_heatmap=heatmap), "en").text
    assert "李伟 Li Wei 3 calls, most often next step missing (2) · 张敏 Zhang Min 2 calls, no gaps" in with_calls
    stages = render_facts("territory_summary", summary, "zh").tables[0]
    assert [row[0] for row in stages.rows] == ["线索", "资格确认", "需求挖掘", "方案", "谈判"]
    zh = render_facts("account_overview", overview, "zh").text
    assert overview.owner in zh and "重点客户" in zh
    contact = overview.contacts[0]
    assert f"{contact.name}（{contact.title}，" in zh and "经济决策人" in zh


# --- call coaching -------------------------------------------------------------------------------


def _analysis(**changes: object) -> CallAnalysis:
    metrics = CallMetrics(
        duration_s=545.2,
        rep_talk_s=370.0,
        customer_talk_s=175.2,
        rep_talk_ratio=0.6789,
        longest_monologue_s=95.4,
        question_count=9,
        open_question_count=3,
        closed_question_count=6,
        open_question_turns=3,
        questions_per_minute=0.9912,
        interactivity=3.2,
        patience_s=0.84,
        turn_count=40,
    )
    budget = Finding(
        type="budget_unclarified",
        severity="medium",
        confidence=0.8,
        evidence=[Evidence(turn=7, start=123.4, end=130.0, quote="We only have 500k this year.", speaker="customer")],
        summary="The customer hinted at a budget constraint; the rep never clarified budget, amount or approver.",
    )
    next_step = Finding(
        type="next_step_missing",
        severity="high",
        confidence=0.9,
        evidence=[Evidence(turn=None, start=540.0, end=545.0, quote="", role="absence")],
        summary="The call ended without an agreed next step.",
    )
    analysis = CallAnalysis(
        call_id=12,
        title="Acme discovery",
        owner="li.wei",
        status=CallStatus.DONE,
        error=None,
        language="en",
        duration=545.2,
        speakers_inferred=True,
        transcript=[],
        metrics=metrics,
        gaps=[budget, next_step],
    )
    return replace(analysis, **changes)


def _coaching() -> list[GapCoaching]:
    lesson = Lesson("Clarifying budget", "budget.md", "...")
    return [
        GapCoaching("budget_unclarified", "", Coaching('"What range have you set aside?"', [lesson])),
        GapCoaching("next_step_missing", "", Coaching('"Shall we meet on Tuesday?"', [])),
    ]


def test_call_coaching_gives_metrics_gaps_with_evidence_and_the_coaching() -> None:
    facts = render_facts("call_coaching", CallCoaching(_analysis(), _coaching()), "en")
    assert_for_people(facts)
    text = facts.text
    assert "Call 12 “Acme discovery”: 9:05, English." in text
    assert "Rep talk 68% · longest monologue 1:35 · 3 open of 9 questions (1.0 per minute)" in text
    assert "[2:03] “We only have 500k this year.”" in text and "500" in facts.figures
    # The high-severity gap comes first, and its coaching with it.
    assert text.index("next step missing (high)") < text.index("budget unclarified (medium)")
    assert text.index('"Shall we meet on Tuesday?"') < text.index('"What range have you set aside?"')
    assert "Read: Clarifying budget" in text and "speakers were inferred" in text
    zh = render_facts("call_coaching", CallCoaching(_analysis(), _coaching()), "zh").text
    assert "预算未澄清（中）：问清预算范围和审批人。" in zh and "budget constraint" not in zh


def test_a_call_not_analysed_yet_or_failed_says_so() -> None:
    pending = CallCoaching(_analysis(status=CallStatus.PROCESSING, metrics=None, gaps=[]), [])
    assert render_facts("call_coaching", pending, "en").text.startswith("Call 12 “Acme discovery” is being analysed")
    failed = CallCoaching(_analysis(status=CallStatus.FAILED, error="Audio is longer than 90 minutes."), [])
    assert render_facts("call_coaching", failed, "zh").text.endswith("未能分析：Audio is longer than 90 minutes.")


def test_a_result_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(TypeError, match="search_knowledge"):
        render_facts("search_knowledge", [], "en")
    with pytest.raises(TypeError, match="PipelineView"):
        render_facts("forecast", _pipeline(), "en")
    with pytest.raises(TypeError):
        render_facts("risk_alerts", [datetime.now(UTC)], "en")
