"""`copilot forecast | resonance | summary | risk | import crm` and `copilot eval forecast`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import AsUser, JsonFlag, cli_errors, console, emit_json, get_app, identity_for, progress_bar
from bot.cli.evals import eval_app
from bot.core.errors import InvalidInput

__all__ = ["forecast_command", "import_app", "resonance_command", "risk_app", "summary_command"]

risk_app = typer.Typer(help="Evaluate the risk rules and list risk alerts.", no_args_is_help=True)
import_app = typer.Typer(help="Import data from other systems.", no_args_is_help=True)


def _what_if(pairs: list[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--what-if takes NAME=VALUE, got '{pair}'.")
        try:
            values[name.strip()] = float(raw)
        except ValueError:
            raise InvalidInput(f"--what-if {name}: '{raw}' is not a number.") from None
    return values


def _money(value: float | None, currency: str) -> str:
    return "n/a" if value is None else f"{value:,.0f} {currency}"


@cli_errors
def forecast_command(
    scope: Annotated[
        str | None, typer.Option("--scope", help="territory:NAME | rep:HANDLE | account:NAME | product:SKU")
    ] = None,
    period: Annotated[str | None, typer.Option(help="2026-Q4 or 2026-12 (default: this quarter)")] = None,
    what_if: Annotated[
        list[str] | None, typer.Option("--what-if", help="NAME=VALUE, repeatable; see --list-what-if")
    ] = None,
    list_what_if: Annotated[bool, typer.Option("--list-what-if", help="Show the what-if parameters and exit.")] = False,
    as_user: AsUser = None,
    json_output: JsonFlag = False,
) -> None:
    """Forecast bookings with an interval, the gap to target and the tracked accuracy."""
    from insights.forecast import WHAT_IF_PARAMETERS, forecast

    if list_what_if:
        if json_output:
            emit_json(list(WHAT_IF_PARAMETERS.values()))
            return
        for p in WHAT_IF_PARAMETERS.values():
            console.print(
                f"[bold]{p.name}[/bold] [{p.minimum}..{p.maximum}, default {p.default}]: "
                f"{p.description_en} / {p.description_zh}"
            )
        return
    if not scope:
        raise InvalidInput(
            'Say what to forecast with --scope, e.g. --scope territory:"East China" or --scope rep:li.wei.'
        )
    app = get_app()
    identity = identity_for(app, as_user)
    with console.status("Forecasting..."), app.db.session() as session:
        result = forecast(session, identity, scope, period, _what_if(what_if or []))
    if json_output:
        emit_json(result.to_dict())
        return
    c = result.currency
    console.print(f"[bold]{result.scope_label}[/bold] {result.period} (as of {result.as_of})")
    console.print(
        f"Forecast {_money(result.point, c)}  ({result.interval_level:.0%} interval "
        f"{_money(result.lower, c)} - {_money(result.upper, c)})"
    )
    console.print(
        f"Booked so far {_money(result.booked_to_date, c)}; target {_money(result.target, c)}; "
        f"gap {_money(result.gap_to_target, c)}"
    )
    a = result.accuracy
    console.print(
        f"Tracked accuracy: MAPE {a.mape if a.mape is not None else 'n/a'}, "
        f"MASE {a.mase if a.mase is not None else 'n/a'} "
        f"over {a.periods} periods ({a.source}); bias correction x{a.bias_correction}"
    )
    m = result.method
    console.print(
        f"Pipeline-weighted {_money(m.pipeline_weighted, c)} (weight {m.pipeline_weight}), "
        f"baseline {_money(m.baseline, c)}"
    )
    if result.what_if:
        console.print("What-if: " + ", ".join(f"{k}={v}" for k, v in result.what_if.items()))
    table = Table("Opportunity", "Account", "Amount", "Stage", "Why")
    for pick in result.top_opportunities:
        table.add_row(pick.name, pick.account, _money(pick.amount, c), pick.stage, pick.why)
    console.print(table)


@cli_errors
def resonance_command(
    account: Annotated[str, typer.Argument(help="Account name (or part of it) or id.")],
    as_user: AsUser = None,
    json_output: JsonFlag = False,
) -> None:
    """Resonance score, buyer type, top signals, 7/30-day change and next actions of an account."""
    from insights.resonance import resonance

    app = get_app()
    identity = identity_for(app, as_user)
    with app.db.session() as session:
        result = resonance(session, identity, account)
    if json_output:
        emit_json(result.to_dict())
        return
    console.print(
        f"[bold]{result.account}[/bold]: resonance {result.score:.0f}/100 "
        f"(7 days {result.change_7d:+.1f}, 30 days {result.change_30d:+.1f})"
    )
    if result.buyer_type:
        console.print(f"Buyer type: {result.buyer_type_zh} {result.buyer_type_en}")
    for s in result.top_signals:
        console.print(f"  - {s.name_en} / {s.name_zh}: {s.contribution:.0%} ({s.occurrences}x)")
    for action in result.next_actions:
        console.print(f"[green]Next:[/green] {action.en} / {action.zh}")


@cli_errors
def summary_command(
    territory: Annotated[str | None, typer.Argument(help="Territory name (default: your own).")] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also write a chart to this PNG file.")] = None,
    as_user: AsUser = None,
    json_output: JsonFlag = False,
) -> None:
    """Territory summary: bookings vs target, forecast, pipeline health, deals to attack, risks."""
    from insights.summary import render_summary_chart, territory_summary

    app = get_app()
    identity = identity_for(app, as_user)
    with console.status("Summarising..."):
        with app.db.session() as session:
            s = territory_summary(session, identity, territory)
        if png is not None:
            # Drawn after the session: the chart takes a second, the write lock must not wait for it.
            s = replace(s, chart_path=str(render_summary_chart(s, png)))
    if json_output:
        emit_json(s.to_dict())
        return
    c, f = s.currency, s.forecast
    console.print(f"[bold]{s.title}[/bold] {s.period}: booked {_money(s.booked, c)} of {_money(s.target, c)}")
    console.print(
        f"Forecast {_money(f.point, c)} ({_money(f.lower, c)} - {_money(f.upper, c)}); "
        f"accuracy MAPE {f.accuracy.mape}, MASE {f.accuracy.mase} ({f.accuracy.source})"
    )
    p = s.pipeline
    console.print(
        f"Pipeline {_money(p.open_amount, c)} in {p.open_deals} deals; coverage {p.coverage}; "
        f"slipped {p.slipped_share:.0%}; ageing {p.stage_ageing_days}"
    )
    for pick in s.top_opportunities:
        console.print(f"  Attack: {pick.name} ({pick.account}): {pick.why}")
    for move in s.resonance_rising:
        console.print(f"  Rising: {move.account} {move.score:.0f} ({move.change_30d:+.1f} in 30 days)")
    for move in s.resonance_falling:
        console.print(f"  Cooling: {move.account} {move.score:.0f} ({move.change_30d:+.1f} in 30 days)")
    for alert in s.risk_alerts:
        console.print(f"  [red]{alert.severity}[/red] {alert.account}: {alert.message}")
    console.print(s.gap_heatmap_note)
    if s.chart_path:
        console.print(f"Chart: {s.chart_path}")


@risk_app.command("list")
@cli_errors
def risk_list(
    scope: Annotated[str | None, typer.Option(help="territory:NAME | rep:HANDLE | account:NAME")] = None,
    as_user: AsUser = None,
    json_output: JsonFlag = False,
) -> None:
    """Open risk alerts you may see."""
    from insights.risk import list_alerts

    app = get_app()
    identity = identity_for(app, as_user)
    with app.db.session() as session:
        alerts = list_alerts(session, identity, scope)
    if json_output:
        emit_json([a.to_dict() for a in alerts])
        return
    if not alerts:
        console.print("No open risk alerts.")
    for a in alerts:
        console.print(f"[red]{a.severity}[/red] #{a.id} {a.account} ({a.rule_id}): {a.message}")
        for remedy in a.remedies:
            console.print(f"    - {remedy}")


@risk_app.command("evaluate")
@cli_errors
def risk_evaluate(as_user: AsUser = None, json_output: JsonFlag = False) -> None:
    """Evaluate insights/risk_rules.yaml now and store new alerts (admin or manager)."""
    from bot.core.access import require_role
    from bot.core.models import Role
    from insights.risk import evaluate

    app = get_app()
    require_role(identity_for(app, as_user), Role.ADMIN, Role.MANAGER, action="evaluate risk rules")
    with app.db.session() as session:
        created = evaluate(session)
    if json_output:
        emit_json([a.to_dict() for a in created])
        return
    console.print(f"{len(created)} new alert(s).")
    for a in created:
        console.print(f"[red]{a.severity}[/red] {a.account}: {a.message}")


@import_app.command("crm")
@cli_errors
def import_crm_command(
    folder: Annotated[Path, typer.Argument(help="Folder holding the CSV export.")],
    mapping: Annotated[Path, typer.Option(help="Column-mapping YAML (e.g. insights/crm_mappings/salesforce.yaml).")],
    strict: Annotated[bool, typer.Option(help="Import nothing if any row is rejected.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate only; write nothing.")] = False,
    as_user: AsUser = None,
    json_output: JsonFlag = False,
) -> None:
    """Import CRM CSVs (teams, accounts, opportunities, activities) in one transaction (admin)."""
    from insights.crm_import import import_crm

    app = get_app()
    identity = identity_for(app, as_user)
    # One session, one transaction: a dry run or a refused strict import rolls it back.
    with console.status("Importing..."), app.db.session() as session:
        report = import_crm(session, identity, folder, mapping, strict=strict, dry_run=dry_run)
    if json_output:
        emit_json(report.to_dict())
        return
    for kind in report.created:
        console.print(
            f"{kind}: {report.created[kind]} created, {report.updated[kind]} updated, "
            f"{report.unchanged[kind]} unchanged"
        )
    for reject in report.rejects:
        console.print(f"[yellow]rejected[/yellow] {reject.file}:{reject.line}: {reject.reason}")
    if dry_run:
        console.print("Dry run: nothing was written.")


@eval_app.command("forecast")
@cli_errors
def eval_forecast(json_output: JsonFlag = False) -> None:
    """Rolling-origin backtest on the data in the database (build it with `copilot demo`):
    MAPE and MASE of the copilot's forecast vs seasonal naive and a plain AutoETS."""
    from sqlalchemy import exists, select

    from bot.core.models import Opportunity
    from insights.evaluation import backtest

    app = get_app()
    with app.db.session() as session:
        if not session.scalar(select(exists().where(Opportunity.id.is_not(None)))):
            raise InvalidInput(
                "No opportunities in the database to backtest: run `copilot demo` or `copilot import crm` first."
            )
        with progress_bar() as bar:
            task = bar.add_task("Backtesting", total=100)
            report = backtest(
                session, progress=lambda done, note: bar.update(task, completed=done * 100, description=note)
            )
    if json_output:
        emit_json(report.to_dict())
        return
    table = Table("Method", "MAPE", "MASE")
    for name in ("copilot", "seasonal_naive", "auto_ets"):
        score = getattr(report, name)
        table.add_row(
            name,
            f"{score.mape:.3f}" if score.mape is not None else "n/a",
            f"{score.mase:.3f}" if score.mase is not None else "n/a",
        )
    console.print(table)
    console.print(f"{report.points} forecasts, origins {', '.join(report.origins)}; scopes {', '.join(report.scopes)}")
