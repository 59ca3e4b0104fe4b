"""`copilot kb`: trainers add, list and remove knowledge-base documents."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated

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
    isolated_app,
    progress_bar,
)
from bot.cli.evals import eval_app

__all__ = ["kb_app"]

kb_app = typer.Typer(help="Add, list and remove knowledge-base documents.", no_args_is_help=True)


@kb_app.command("add")
@cli_errors
def add(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (md, txt, pdf, docx, html, csv).")],
    kind: Annotated[
        str | None,
        typer.Option(
            help="playbook, battlecard, case_study, product, compliance, lesson, customer_history, call_summary"
        ),
    ] = None,
    visibility: Annotated[str | None, typer.Option(help="everyone, territory or owner")] = None,
    account: Annotated[str | None, typer.Option(help="The account a customer history belongs to.")] = None,
    as_user: AsUser = None,
    json_output: JsonFlag = False,
) -> None:
    """Add or update documents; unchanged files are skipped, bad files reported at the end."""
    app = get_app()
    identity = identity_for(app, as_user)
    with progress_bar() as bar:
        task = bar.add_task("Adding documents", total=None)
        report = app.knowledge.add_paths(
            identity,
            paths,
            kind=kind,
            visibility=visibility,
            account=account,
            progress=lambda name, done, total: bar.update(task, completed=done, total=total, description=name),
        )
    if json_output:
        emit_json(report)
    else:
        for outcome in report.added:
            passages = f"v{outcome.version}, {outcome.chunk_count} passages"
            console.print(f"[green]added[/green] #{outcome.doc_id} {outcome.title} ({passages})")
        for outcome in report.unchanged:
            console.print(f"[dim]unchanged[/dim] #{outcome.doc_id} {outcome.title}")
        for name, reason in report.failed:
            err_console.print(f"[red]failed[/red] {name}: {reason}")
    if report.failed:
        raise typer.Exit(1)


@kb_app.command("list")
@cli_errors
def list_documents(as_user: AsUser = None, json_output: JsonFlag = False) -> None:
    """List the documents you can see, with their passage counts."""
    app = get_app()
    documents = app.knowledge.list_documents(identity_for(app, as_user))
    if json_output:
        emit_json(documents)
        return
    table = Table("id", "title", "kind", "lang", "format", "visibility", "v", "passages")
    for d in documents:
        table.add_row(str(d.id), d.title, d.kind, d.language, d.format, d.visibility, str(d.version), str(d.chunks))
    console.print(table)
    console.print(f"{len(documents)} documents, {sum(d.chunks for d in documents)} passages")


@kb_app.command("remove")
@cli_errors
def remove(
    doc_id: Annotated[int, typer.Argument(help="The document id from `copilot kb list`.")], as_user: AsUser = None
) -> None:
    """Remove a document and all its passages."""
    app = get_app()
    title = app.knowledge.remove(identity_for(app, as_user), doc_id)
    console.print(f"removed #{doc_id} {title}")


@eval_app.command("retrieval")
@cli_errors
def eval_retrieval(
    docs: Annotated[
        Path | None,
        typer.Option("--docs", help="Score a folder of your documents instead of the demo KB (with --questions)."),
    ] = None,
    questions_file: Annotated[
        Path | None,
        typer.Option(
            "--questions",
            help="CSV (Question, Source Docs, Question Type) or YAML of questions naming their source "
            "documents by file-name pattern, such as *2023 Q3 AAPL*.",
        ),
    ] = None,
    show_misses: Annotated[bool, typer.Option("--misses", help="List the questions each mode missed.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """hit@1, hit@5 and MRR of dense, BM25 and hybrid search over the demo knowledge base.

    The demo KB is built once in <data_dir>/eval-retrieval and reused afterwards. With --docs and
    --questions: the search as configured over those documents, ingested into a throwaway data
    folder, per split (dev: questions whose SHA-1 starts with an even hex digit; test: odd), per
    question type, with its latency.
    """
    if docs is not None or questions_file is not None:
        if docs is None or questions_file is None:
            raise typer.BadParameter("--docs and --questions go together.")
        _eval_retrieval_over(docs, questions_file, show_misses, json_output)
        return
    from bot.demo.build import ensure_demo
    from retrieval.evaluation import EVAL_IDENTITY, evaluate, load_questions

    settings = get_app().settings
    questions = load_questions()
    # Its own data folder, database and vector store: the evaluation never touches the real ones.
    evaluation = isolated_app(settings, settings.data_dir / "eval-retrieval")
    try:
        with progress_bar() as bar:
            task = bar.add_task("Preparing the demo knowledge base", total=None)

            def progress(step: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=step)

            ensure_demo(evaluation, progress, with_calls=False)
            scores = evaluate(evaluation.retriever, identity_for(evaluation, EVAL_IDENTITY), questions, progress)
    finally:
        evaluation.close()
    if json_output:
        emit_json({mode: result.as_dict() for mode, result in scores.items()})
        return
    table = Table("mode", "hit@1", "hit@5", "MRR", title=f"Retrieval over the demo KB ({len(questions)} questions)")
    for mode, result in scores.items():
        table.add_row(mode, f"{result.hit_at_1:.3f}", f"{result.hit_at_5:.3f}", f"{result.mrr:.3f}")
    console.print(table)
    if show_misses:
        for mode, result in scores.items():
            for question in result.misses:
                console.print(f"[dim]{mode} missed:[/dim] {question}")


def _eval_retrieval_over(docs: Path, questions_file: Path, show_misses: bool, json_output: bool) -> None:
    """`copilot eval retrieval --docs --questions`: ingest into a throwaway folder, then score."""
    from bot.demo.org import build_org
    from retrieval.evaluation import EVAL_IDENTITY, evaluate_sources, load_sourced_questions

    settings = get_app().settings
    questions = load_sourced_questions(questions_file)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        prefix="eval-retrieval-", dir=settings.data_dir, ignore_cleanup_errors=True
    ) as tmp:
        # Its own database and vector store, deleted afterwards; the demo org gives it an admin
        # who may add the documents and read them all.
        evaluation = isolated_app(settings, Path(tmp))
        try:
            with evaluation.db.session() as session:
                build_org(session, settings.demo_seed, date.today())
            identity = identity_for(evaluation, EVAL_IDENTITY)
            with progress_bar() as bar:
                task = bar.add_task("Adding the documents", total=None)

                def progress(step: str, done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total, description=step)

                ingested = evaluation.knowledge.add_paths(identity, [docs], progress=progress)
                report = evaluate_sources(evaluation.retriever, identity, questions, progress)
        finally:
            evaluation.close()
    ranking = {
        "name_weight": settings.retrieval_name_weight,
        "period_weight": settings.retrieval_period_weight,
        "rerank": settings.retrieval_rerank,
    }
    if json_output:
        emit_json({**report.as_dict(), "documents": len(ingested.added), "failed": ingested.failed, "ranking": ranking})
        return
    for name, reason in ingested.failed:
        err_console.print(f"[yellow]not added[/yellow] {name}: {reason}")
    title = (
        f"Source documents found over {docs.name} ({len(ingested.added)} documents, {len(questions)} questions; "
        + ", ".join(f"{key} {value}" for key, value in ranking.items())
        + ")"
    )
    table = Table("questions", "n", "hit@1", "hit@5", "MRR", title=title)
    rows = [("all", report.overall), *report.by_split.items(), *report.by_kind.items()]
    for label, scores in rows:
        table.add_row(
            label, str(scores.questions), f"{scores.hit_at_1:.3f}", f"{scores.hit_at_5:.3f}", f"{scores.mrr:.3f}"
        )
    console.print(table)
    console.print(f"search latency: p50 {report.latency_p50_ms:.0f} ms, p95 {report.latency_p95_ms:.0f} ms")
    if show_misses:
        for question in report.misses:
            console.print(f"[dim]missed:[/dim] {question}")
