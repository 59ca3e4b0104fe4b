"""Territory summaries (JSON, PNG, heat map paths), account overviews and pipelines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.errors import PermissionDenied
from bot.core.models import Account, Call, User
from insights.accounts import account_overview, my_pipeline
from insights.summary import territory_summary
from tests.conftest import DEMO_DAY


def test_manager_summary_has_every_part_and_writes_a_png(org_app, identity_of, tmp_path: Path) -> None:
    png = tmp_path / "east.png"
    summary = territory_summary(org_app, identity_of("wang.fang"), None, png=png, today=DEMO_DAY)
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
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert summary.chart_path == str(png)
    json.dumps(summary.to_dict(), ensure_ascii=False, default=str)


def test_rep_gets_their_own_book_and_managers_stay_home(org_app, identity_of) -> None:
    summary = territory_summary(org_app, identity_of("li.wei"), None, today=DEMO_DAY)
    assert summary.scope == "rep:li.wei"
    with org_app.db.session() as session:
        li = session.scalar(select(User).where(User.handle == "li.wei"))
        own = set(session.scalars(select(Account.name).where(Account.owner_id == li.id)))
    assert {p["account"] for p in summary.top_opportunities} <= own
    assert {a.account for a in summary.risk_alerts} <= own
    with pytest.raises(PermissionDenied):
        territory_summary(org_app, identity_of("wang.fang"), "North America", today=DEMO_DAY)


class _FakeCalls:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []

    def gap_heatmap(self, identity, territory=None):  # noqa: ANN001, ANN201
        self.asked.append((identity.handle, territory))
        return {"reps": ["li.wei"], "gaps": ["no_next_step"], "counts": [[2]]}


def test_summary_includes_the_gap_heat_map_once_calls_exist(org_app, identity_of) -> None:
    fake = _FakeCalls()
    org_app.__dict__["calls"] = fake
    with org_app.db.session() as session:
        li = session.scalar(select(User).where(User.handle == "li.wei"))
        session.add(Call(owner_id=li.id, title="call", original_filename="a.flac", audio_path="/x/a.flac", audio_sha256="0" * 64, status="done"))
    summary = territory_summary(org_app, identity_of("wang.fang"), None, today=DEMO_DAY)
    assert fake.asked == [("wang.fang", "East China")]
    assert summary.gap_heatmap["gaps"] == ["no_next_step"]


def test_account_overview_and_permissions(org_app, identity_of) -> None:
    with org_app.db.session() as session:
        li = session.scalar(select(User).where(User.handle == "li.wei"))
        account = session.scalar(select(Account).where(Account.owner_id == li.id, Account.is_key_account.is_(True)))
        other = session.scalar(select(Account).where(Account.owner_id != li.id))
        name, other_name = account.name, other.name
    overview = account_overview(org_app, identity_of("li.wei"), name, today=DEMO_DAY)
    assert overview.key_account and overview.contacts and all(c["buying_role"] for c in overview.contacts)
    assert overview.recent_stage_changes and overview.latest_signals
    assert all(o.stage not in ("closed_won", "closed_lost") for o in overview.open_opportunities)
    with pytest.raises(PermissionDenied):
        account_overview(org_app, identity_of("li.wei"), other_name, today=DEMO_DAY)


def test_my_pipeline_by_stage_with_coverage(org_app, identity_of) -> None:
    view = my_pipeline(org_app, identity_of("li.wei"), today=DEMO_DAY)
    assert view.target is not None and view.period == "2026-Q4"
    assert sum(s.count for s in view.by_stage) == len(view.opportunities)
    assert view.open_total == pytest.approx(sum(o.amount for o in view.opportunities))
    assert {o.owner for o in view.opportunities} <= {"li.wei"}
    manager = my_pipeline(org_app, identity_of("wang.fang"), today=DEMO_DAY)
    assert len(manager.opportunities) > len(view.opportunities)
