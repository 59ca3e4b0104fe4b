"""CRM import (mappings, rejects with lines, idempotence, atomicity, admin-only) and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import bot.cli.common as cli_common
from bot.app import App
from bot.cli import app as cli
from bot.core.errors import InvalidInput, PermissionDenied
from bot.core.models import Account, Opportunity, SignalEvent, StageChange, User
from insights import crm_import
from insights.crm_import import import_crm
from tests.unit.insights_helpers import in_session

ROOT = Path(__file__).resolve().parents[2] / "insights"
EXAMPLES, MAPPINGS = ROOT / "crm_examples", ROOT / "crm_mappings"


def _counts(app: App) -> tuple[int | None, ...]:
    with app.db.session() as session:
        return tuple(
            session.scalar(select(func.count(m.id))) for m in (User, Account, Opportunity, StageChange, SignalEvent)
        )


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_example_exports_load_and_reimport_changes_nothing(org_app, identity_of, crm) -> None:
    admin = identity_of("ops.admin")
    report = in_session(org_app, import_crm, admin, EXAMPLES / crm, MAPPINGS / f"{crm}.yaml")
    assert report.rejects == []
    assert (
        report.created["accounts"] == 2 and report.created["opportunities"] >= 2 and report.created["activities"] >= 2
    )
    after_first = _counts(org_app)
    again = in_session(org_app, import_crm, admin, EXAMPLES / crm, MAPPINGS / f"{crm}.yaml")
    assert sum(again.created.values()) == 0 and sum(again.updated.values()) == 0
    assert _counts(org_app) == after_first


def test_imported_history_feeds_forecasts(org_app, identity_of) -> None:
    in_session(org_app, import_crm, identity_of("ops.admin"), EXAMPLES / "salesforce", MAPPINGS / "salesforce.yaml")
    with org_app.db.session() as session:
        won = session.scalar(select(Opportunity).where(Opportunity.external_id == "006A000002"))
        assert won.status.value == "won" and won.amount == 180000
        stages = [
            c.to_stage.value for c in session.scalars(select(StageChange).where(StageChange.opportunity_id == won.id))
        ]
        assert stages == ["prospecting", "closed_won"]
        open_opp = session.scalar(select(Opportunity).where(Opportunity.external_id == "006A000001"))
        assert open_opp.amount == 52000 and open_opp.stage.value == "proposal"


def _broken_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(EXAMPLES / "salesforce", folder)
    opportunities = folder / "Opportunity.csv"
    lines = opportunities.read_text(encoding="utf-8").splitlines()
    lines.append("006A000009,Bad amount,001A000001,tom.baker,lots,USD,Proposal/Price Quote,2026-08-03,2026-12-15,,")
    lines.append("006A000010,Bad stage,001A000001,tom.baker,100,USD,Maybe Later,2026-08-03,2026-12-15,,")
    lines.append("006A000011,Ghost account,001XXXX,tom.baker,100,USD,Prospecting,2026-08-03,2026-12-15,,")
    opportunities.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_rejects_name_file_and_line_and_good_rows_still_load(org_app, identity_of, tmp_path: Path) -> None:
    folder = _broken_copy(tmp_path)
    report = in_session(org_app, import_crm, identity_of("ops.admin"), folder, MAPPINGS / "salesforce.yaml")
    rejects = {(r.file, r.line): r.reason for r in report.rejects}
    assert set(rejects) == {("Opportunity.csv", 5), ("Opportunity.csv", 6), ("Opportunity.csv", 7)}
    assert "not a number" in rejects[("Opportunity.csv", 5)]
    assert "stage_map" in rejects[("Opportunity.csv", 6)]
    assert "unknown account" in rejects[("Opportunity.csv", 7)]
    assert report.created["opportunities"] == 3


def test_strict_and_crashing_imports_write_nothing(org_app, identity_of, tmp_path: Path, monkeypatch) -> None:
    admin = identity_of("ops.admin")
    before = _counts(org_app)
    with pytest.raises(InvalidInput, match="nothing imported"):
        in_session(org_app, import_crm, admin, _broken_copy(tmp_path), MAPPINGS / "salesforce.yaml", strict=True)
    assert _counts(org_app) == before

    def explode(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("disk full")

    monkeypatch.setitem(crm_import._IMPORTERS, "activities", explode)
    with pytest.raises(RuntimeError):
        in_session(org_app, import_crm, admin, EXAMPLES / "salesforce", MAPPINGS / "salesforce.yaml")
    assert _counts(org_app) == before  # teams, accounts and opportunities rolled back too


def test_a_dry_run_writes_nothing_even_when_the_caller_commits(org_app, identity_of) -> None:
    before = _counts(org_app)
    with org_app.db.session() as session:
        report = import_crm(
            session, identity_of("ops.admin"), EXAMPLES / "salesforce", MAPPINGS / "salesforce.yaml", dry_run=True
        )
    assert report.dry_run and report.created["accounts"] == 2 and report.rejects == []
    assert _counts(org_app) == before


def test_a_refused_strict_import_writes_nothing_even_if_the_caller_carries_on(
    org_app, identity_of, tmp_path: Path
) -> None:
    before = _counts(org_app)
    with org_app.db.session() as session, pytest.raises(InvalidInput, match="nothing imported"):
        import_crm(session, identity_of("ops.admin"), _broken_copy(tmp_path), MAPPINGS / "salesforce.yaml", strict=True)
    assert _counts(org_app) == before


def test_import_is_admin_only_and_checks_columns(org_app, identity_of, tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied):
        in_session(org_app, import_crm, identity_of("wang.fang"), EXAMPLES / "salesforce", MAPPINGS / "salesforce.yaml")
    folder = tmp_path / "export"
    shutil.copytree(EXAMPLES / "salesforce", folder)
    (folder / "Account.csv").write_text("Id,Title\n1,x\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="missing column"):
        in_session(org_app, import_crm, identity_of("ops.admin"), folder, MAPPINGS / "salesforce.yaml")


@pytest.fixture
def cli_app(org_app: App, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.setattr(cli_common, "_app", org_app)
    return org_app


def test_cli_forecast_json_and_refusal(cli_app) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["forecast", "--scope", "rep:li.wei", "--what-if", "win_rate_shift=0.05", "--as", "li.wei", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["scope"] == "rep:li.wei" and data["what_if"] == {"win_rate_shift": 0.05}
    assert {"mape", "mase", "periods"} <= set(data["accuracy"])
    denied = runner.invoke(cli, ["forecast", "--scope", "rep:zhang.min", "--as", "li.wei"])
    assert denied.exit_code == 1 and "can't see" in denied.output


def test_cli_resonance_summary_risk_and_import(cli_app, tmp_path: Path) -> None:
    runner = CliRunner()
    resonance = runner.invoke(cli, ["resonance", "1", "--as", "ops.admin", "--json"])
    assert resonance.exit_code == 0 and 0 <= json.loads(resonance.stdout)["score"] <= 100
    png = tmp_path / "s.png"
    summary = runner.invoke(cli, ["summary", "North America", "--as", "sarah.mitchell", "--png", str(png)])
    assert summary.exit_code == 0, summary.output
    assert png.exists() and f"Chart: {png}" in summary.stdout.replace("\n", "")
    as_json = runner.invoke(cli, ["summary", "--as", "sarah.mitchell", "--png", str(tmp_path / "j.png"), "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["scope"] == "territory:North America" and data["chart_path"] == str(tmp_path / "j.png")
    assert (tmp_path / "j.png").exists()
    risks = runner.invoke(cli, ["risk", "list", "--as", "sarah.mitchell", "--json"])
    assert risks.exit_code == 0 and json.loads(risks.stdout)
    imported = runner.invoke(
        cli,
        [
            "import",
            "crm",
            str(EXAMPLES / "hubspot"),
            "--mapping",
            str(MAPPINGS / "hubspot.yaml"),
            "--as",
            "ops.admin",
            "--json",
        ],
    )
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["created"]["accounts"] == 2


def test_cli_eval_forecast_prints_the_three_methods(cli_app) -> None:
    result = CliRunner().invoke(cli, ["eval", "forecast", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"copilot", "seasonal_naive", "auto_ets"}
    assert all(set(data[m]) == {"mape", "mase"} for m in ("copilot", "seasonal_naive", "auto_ets"))
    assert data["points"] >= 9
    assert data["copilot"]["mase"] < data["seasonal_naive"]["mase"]
