"""Territory summaries (JSON, PNG, heat map paths), account overviews and pipelines."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.core.errors import PermissionDenied
from bot.core.models import Account, Call, CallStatus, GapFinding, Territory, User
from insights.accounts import account_overview, my_pipeline
from insights.summary import render_summary_chart, territory_summary
from tests.conftest import DEMO_DAY
from tests.unit.insights_helpers import in_session
from transcription.heatmap import GapHeatmap


def test_manager_summary_has_every_part_and_writes_a_png(org_app, identity_of, tmp_path: Path) -> None:
    with org_app.db.session() as session:
        summary = territory_summary(session, identity_of("wang.fang"), None, today=DEMO_DAY)
    # The chart is drawn once the session is closed.
    png = render_summary_chart(summary, tmp_path / "east.png")
    assert summary.scope == "territory:East China" and summary.currency == "CNY"
    assert summary.target and summary.attainment == pytest.approx(summary.booked / summary.target, abs=1e-3)
    f = summary.forecast
    assert f.lower <= f.point <= f.upper and f.accuracy.mase is not None
    assert summary.pipeline.open_deals > 0 and summary.pipeline.stage_ageing_days
    assert 0.0 <= summary.pipeline.slipped_share <= 1.0
    assert len(summary.top_opportunities) == 3
    assert summary.resonance_rising and all(m.change_30d > 0 for m in summary.resonance_rising)
    assert any(a.severity == "high" for a in summary.risk_alerts)
    assert summary.gap_heatmap is None and "No calls" in summary.gap_heatmap_note
    assert len(summary.history) == 6
    assert png == tmp_path / "east.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    data = replace(summary, chart_path=str(png)).to_dict()
    assert data["chart_path"] == str(png)
    assert data["top_opportunities"] == data["forecast"]["top_opportunities"]  # the same picks, as before
    assert data["history"][0].keys() == {"period", "actual"} and data["gap_heatmap"] is None
    json.dumps(data, ensure_ascii=False, default=str)


def test_rep_gets_their_own_book_and_managers_stay_home(org_app, identity_of) -> None:
    summary = in_session(org_app, territory_summary, identity_of("li.wei"), None, today=DEMO_DAY)
    assert summary.scope == "rep:li.wei"
    with org_app.db.session() as session:
        li = session.scalar(select(User).where(User.handle == "li.wei"))
        own = set(session.scalars(select(Account.name).where(Account.owner_id == li.id)))
    assert {p.account for p in summary.top_opportunities} <= own
    assert {a.account for a in summary.risk_alerts} <= own
    # A rep naming a territory still gets their own book.
    assert in_session(org_app, territory_summary, identity_of("li.wei"), "North America", today=DEMO_DAY).scope == (
        "rep:li.wei"
    )
    with pytest.raises(PermissionDenied, match="North America"):
        in_session(org_app, territory_summary, identity_of("wang.fang"), "North America", today=DEMO_DAY)
    with pytest.raises(PermissionDenied):
        in_session(org_app, territory_summary, identity_of("zhao.lin"), "East China", today=DEMO_DAY)


def _analysed_call(app: App, handle: str, territory: str, gaps: list[str]) -> None:
    """A call analysed with these gaps, made by `handle` in `territory`."""
    with app.db.session() as session:
        owner = session.scalar(select(User).where(User.handle == handle))
        place = session.scalar(select(Territory).where(Territory.name == territory))
        call = Call(
            owner_id=owner.id,
            territory_id=place.id,
            title="call",
            original_filename="a.flac",
            audio_path="/x/a.flac",
            audio_sha256="0" * 64,
            status=CallStatus.DONE,
        )
        call.findings = [GapFinding(gap_type=gap, severity="high", confidence=0.9, evidence=[]) for gap in gaps]
        session.add(call)


def test_summary_includes_the_gap_heat_map_once_calls_exist(org_app, identity_of) -> None:
    _analysed_call(org_app, "li.wei", "East China", ["next_step_missing", "budget_unclarified"])
    _analysed_call(org_app, "li.wei", "East China", ["next_step_missing"])
    summary = in_session(org_app, territory_summary, identity_of("wang.fang"), None, today=DEMO_DAY)
    heatmap = summary.gap_heatmap
    assert isinstance(heatmap, GapHeatmap) and heatmap.territory == "East China"
    assert summary.gap_heatmap_note == "Gap types found in analysed calls, per rep."
    row = heatmap.reps.index("li.wei")
    assert heatmap.calls[row] == 2
    assert heatmap.counts[row][heatmap.gap_types.index("next_step_missing")] == 2
    assert heatmap.counts[row][heatmap.gap_types.index("budget_unclarified")] == 1
    assert set(heatmap.reps) <= {"li.wei", "zhang.min", "liu.yang"}  # East China's reps only
    data = summary.to_dict()
    assert data["gap_heatmap"] == heatmap.to_dict() and data["gap_heatmap"]["rows"]
    json.dumps(data, ensure_ascii=False, default=str)
    # Calls made in East China are not North America's.
    elsewhere = in_session(org_app, territory_summary, identity_of("sarah.mitchell"), None, today=DEMO_DAY)
    assert elsewhere.gap_heatmap is None and "No calls" in elsewhere.gap_heatmap_note


def test_account_overview_and_permissions(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        li = session.scalar(select(User).where(User.handle == "li.wei"))
        account = session.scalar(select(Account).where(Account.owner_id == li.id, Account.is_key_account.is_(True)))
        other = session.scalar(select(Account).where(Account.owner_id != li.id))
        name, other_name = account.name, other.name
    overview = in_session(org_app, account_overview, identity_of("li.wei"), name, today=DEMO_DAY)
    assert overview.key_account and overview.contacts and all(c.buying_role for c in overview.contacts)
    assert overview.recent_stage_changes and overview.latest_signals
    assert all(o.stage not in ("closed_won", "closed_lost") for o in overview.open_opportunities)
    move = overview.to_dict()["recent_stage_changes"][0]
    assert move.keys() == {"opportunity", "from", "to", "on", "amount"}
    with pytest.raises(PermissionDenied):
        in_session(org_app, account_overview, identity_of("li.wei"), other_name, today=DEMO_DAY)


def test_my_pipeline_by_stage_with_coverage(org_app, identity_of) -> None:
    view = in_session(org_app, my_pipeline, identity_of("li.wei"), today=DEMO_DAY)
    assert view.target is not None and view.period == "2026-Q4"
    assert sum(s.count for s in view.by_stage) == len(view.opportunities)
    assert view.open_total == pytest.approx(sum(o.amount for o in view.opportunities))
    assert {o.owner for o in view.opportunities} <= {"li.wei"}
    manager = in_session(org_app, my_pipeline, identity_of("wang.fang"), today=DEMO_DAY)
    assert len(manager.opportunities) > len(view.opportunities)
