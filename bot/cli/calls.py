"""`copilot call ...` and `copilot eval gaps`: analyse recordings, coach, map the team's gaps."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    AsUser,
    JsonFlag,
    cli_errors,
    console,
    emit_json,
    err_console,
    get_app,
    identity_for,
    progress_bar,
)
from bot.cli.evals import eval_app
from bot.core.errors import CopilotError
from bot.core.models import CallStatus, JobStatus

if TYPE_CHECKING:
    from transcription.findings import Finding
    from transcription.service import CallAnalysis

__all__ = ["call_app"]

# The demo's labelled sample calls: what `eval gaps` scores unless told another folder.
SAMPLE_CALLS = Path(__file__).resolve().parents[1] / "demo" / "calls"

call_app = typer.Typer(help="Analyse call recordings and see the team's dialogue gaps.", no_args_is_help=True)


@call_app.command("analyze")
@cli_errors
def analyze(
    file: Annotated[Path, typer.Argument(help="wav, mp3, m4a, flac, ogg, webm or amr", exists=True, dir_okay=False)],
    as_user: AsUser = None,
    json_output: JsonFlag = False,
) -> None:
    """Transcribe a call, measure it, flag the twelve gaps with evidence, and coach."""
    from transcription.service import CALL_JOB_KIND

    app = get_app()
    identity = identity_for(app, as_user)
    call_id, job_id = app.calls.submit(identity, file, filename=file.name, source="cli")
    # The analysis is a persisted job like any other: run the queue here and show its progress.
    runner = threading.Thread(target=app.jobs.run_until_idle, args=((CALL_JOB_KIND,),), daemon=True)
    runner.start()
    with progress_bar() as bar:
        task = bar.add_task(f"Analysing {file.name}", total=100)
        while runner.is_alive():
            job = app.jobs.get(job_id)
            if job is not None:
                note = job.progress_note or job.status.value
                bar.update(task, completed=int(job.progress * 100), description=f"{file.name}: {note}")
            runner.join(0.3)
    job = app.jobs.get(job_id)
    if job is not None and job.status is JobStatus.FAILED:
        raise CopilotError(job.error or "The analysis failed.")
    analysis = app.calls.get_analysis(identity, call_id)
    if analysis.status is CallStatus.FAILED:
        raise CopilotError(analysis.error or "The analysis failed.")
    if json_output:
        emit_json(analysis.to_dict())
        return
    _print_analysis(analysis)


def _print_analysis(analysis: CallAnalysis) -> None:
    inferred = " [yellow]speakers inferred[/yellow]" if analysis.speakers_inferred else ""
    console.print(f"[bold]{analysis.title}[/bold] ({analysis.language}, {analysis.duration or 0:.0f} s){inferred}")
    for turn in analysis.transcript:
        console.print(f"[dim]{turn.start:6.1f}s[/dim] [bold]{turn.speaker:>8}[/bold]: {turn.text}")
    metrics = analysis.metrics
    if metrics is not None:
        console.print(
            f"\ntalk ratio {metrics.rep_talk_ratio:.0%} · longest monologue {metrics.longest_monologue_s:.0f} s · "
            f"questions {metrics.question_count} ({metrics.open_question_count} open, "
            f"in {metrics.open_question_turns} turns) · "
            f"interactivity {metrics.interactivity:.1f} switches/min · patience {metrics.patience_s:.1f} s"
        )
    if not analysis.gaps:
        console.print("[green]No gaps found.[/green]")
    for gap in analysis.gaps:
        _print_gap(gap)


def _print_gap(gap: Finding) -> None:
    console.print(f"\n[red]{gap.type}[/red] [{gap.severity}, {gap.confidence:.0%}] {gap.summary}")
    for evidence in gap.evidence:
        quote = f"{evidence.speaker or ''}: “{evidence.quote}” " if evidence.quote else ""
        console.print(f"  {evidence.start:.0f}-{evidence.end:.0f}s {quote}[dim]{evidence.note}[/dim]")
    coaching = gap.coaching
    if coaching is None:
        return
    if coaching.talk_track:
        console.print(f"  [cyan]talk track:[/cyan] {coaching.talk_track}")
    for lesson in coaching.lessons:
        console.print(f"  [cyan]lesson:[/cyan] {lesson.title} [dim]({lesson.source})[/dim]")
    if coaching.roleplay is not None:
        play = coaching.roleplay
        console.print(f"  [cyan]role-play:[/cyan] {play.goal} Customer opens: “{play.opening_line}”")


@call_app.command("show")
@cli_errors
def show(call_id: int, as_user: AsUser = None, json_output: JsonFlag = False) -> None:
    """Show one analysed call you may see."""
    app = get_app()
    analysis = app.calls.get_analysis(identity_for(app, as_user), call_id)
    if json_output:
        emit_json(analysis.to_dict())
    else:
        _print_analysis(analysis)


@call_app.command("list")
@cli_errors
def list_calls(as_user: AsUser = None, json_output: JsonFlag = False) -> None:
    """Your calls (a manager: the territory's), newest first."""
    app = get_app()
    calls = app.calls.list_calls(identity_for(app, as_user))
    if json_output:
        emit_json([call.to_dict() for call in calls])
        return
    table = Table("id", "title", "owner", "status", "gaps")
    for call in calls:
        table.add_row(str(call.id), call.title, call.owner, call.status.value, ", ".join(call.gap_types))
    console.print(table)


@call_app.command("heatmap")
@cli_errors
def heatmap(
    territory: Annotated[str | None, typer.Option(help="Territory (default: yours).")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date (YYYY-MM-DD).")] = None,
    png: Annotated[Path | None, typer.Option(help="Also write the chart to this PNG file.")] = None,
    as_user: AsUser = None,
    json_output: JsonFlag = False,
) -> None:
    """Reps x gap types: where the team is weak (managers: their territory)."""
    from transcription.heatmap import render_heatmap_png

    app = get_app()
    data = app.calls.gap_heatmap(identity_for(app, as_user), territory, since, until)
    if png:
        render_heatmap_png(data, png)
    if json_output:
        emit_json(data.to_dict() | ({"png": str(png)} if png else {}))
        return
    table = Table("rep", "calls", *[g.replace("_", " ") for g in data.gap_types])
    for rep, calls, row in zip(data.reps, data.calls, data.counts, strict=True):
        table.add_row(rep, str(calls), *(str(c) if c else "" for c in row))
    console.print(table)
    if png:
        console.print(f"chart: {png}")


@call_app.command("roleplay")
@cli_errors
def roleplay(
    call_id: int,
    gap: Annotated[str, typer.Argument(help="The gap type to practise, e.g. competitor_unaddressed.")],
    as_user: AsUser = None,
    json_output: JsonFlag = False,
) -> None:
    """A practice scenario from one of your calls: the customer's own words open it."""
    app = get_app()
    play = app.calls.roleplay(identity_for(app, as_user), call_id, gap)
    if json_output:
        emit_json(play.to_dict())
        return
    console.print(
        f"[bold]{play.goal}[/bold]\n{play.persona}\n[cyan]Customer:[/cyan] “{play.opening_line}”\n"
        f"[dim]{play.instructions}[/dim]"
    )


@call_app.command("progress")
@cli_errors
def progress(
    rep: Annotated[str | None, typer.Option(help="A rep's handle (managers: their territory's reps).")] = None,
    as_user: AsUser = None,
    json_output: JsonFlag = False,
) -> None:
    """Per gap type: in how many calls it showed, and whether later calls stopped showing it."""
    app = get_app()
    items = app.calls.gap_progress(identity_for(app, as_user), rep)
    if json_output:
        emit_json([i.to_dict() for i in items])
        return
    table = Table("gap", "calls with it", "later calls without", "resolved")
    for item in items:
        resolved = "yes" if item.resolved else "no"
        table.add_row(item.gap_type, str(item.calls_with_gap), str(item.later_calls_without), resolved)
    console.print(table)


@eval_app.command("gaps")
@cli_errors
def eval_gaps(
    calls: Annotated[Path, typer.Option(help="A folder of labelled calls (NAME.flac + NAME.json).")] = SAMPLE_CALLS,
    reference_only: Annotated[
        bool, typer.Option("--reference-only", help="Skip transcription; score the reference turns only.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Precision, recall and F1 per gap type and macro-F1, from audio and from reference turns."""
    # Imported here: the encoder's libraries are heavy, and no other command needs them.
    from retrieval import build_embedder
    from transcription.evaluation import evaluate_gaps
    from transcription.semantic import semantic_doors

    settings = get_app().settings
    semantic = semantic_doors(lambda: build_embedder(settings), settings.gap_semantic_threshold)
    with progress_bar() as bar:
        total = len(list(calls.glob("*.json")))
        task = bar.add_task("Evaluating calls", total=total)
        result = evaluate_gaps(
            settings,
            calls,
            semantic=semantic,
            with_audio=not reference_only,
            progress=lambda _name: bar.advance(task),
        )
    if json_output:
        emit_json(result)
        return
    for source, scores in result.items():
        table = Table(title=f"{source}: macro-F1 {scores['macro_f1']:.3f} over {scores['calls']} calls")
        for column in ("gap", "precision", "recall", "F1"):
            table.add_column(column)
        for gap, values in scores["per_type"].items():
            table.add_row(gap, f"{values['precision']:.2f}", f"{values['recall']:.2f}", f"{values['f1']:.2f}")
        console.print(table)
    if not result:
        err_console.print("no labelled calls found")
