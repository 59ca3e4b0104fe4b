"""`copilot ask`, `copilot chat`: talk to the agent from the terminal; `copilot eval agent`."""

from __future__ import annotations

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
    get_app,
    identity_for,
    isolated_app,
    progress_bar,
)
from bot.cli.demo import ask_once
from bot.cli.evals import eval_app
from bot.cli.render import print_reply
from bot.core.errors import ConfigurationError, InvalidInput
from chains.agent import CopilotAgent

__all__ = ["ask", "chat", "eval_agent", "eval_answers"]


@cli_errors
def ask(
    text: Annotated[str, typer.Argument(help="The question, in Chinese or English.")],
    as_user: AsUser = None,
    json_output: JsonFlag = False,
) -> None:
    """Ask one question as a user; the answer cites its sources."""
    app = get_app()
    reply = ask_once(identity_for(app, as_user).handle, text)
    if json_output:
        data = reply.to_dict()
        emit_json(
            {
                "answer": data["answer"],
                "kind": data["kind"],
                "citations": [{k: c[k] for k in ("doc_id", "title", "source")} for c in data["citations"]],
                "tool_calls": data["tool_calls"],
            }
        )
    else:
        print_reply(reply)
    if reply.kind == "error":
        raise typer.Exit(1)


@cli_errors
def chat(as_user: AsUser = None) -> None:
    """Chat interactively as a user, with streamed answers and their sources."""
    from bot.cli.chat import run_chat

    app = get_app()
    run_chat(app, identity_for(app, as_user))


@eval_app.command("agent")
@cli_errors
def eval_agent(as_user: AsUser = None, json_output: JsonFlag = False) -> None:
    """Tool-choice accuracy of the configured model on the labelled bilingual request set."""
    from chains.evaluation import evaluate_tool_choice, load_cases

    app = get_app()
    if as_user:
        identity_for(app, as_user)  # the eval reads no one's data, but --as must name a real user
    agent = app.answerer
    if not isinstance(agent, CopilotAgent):
        raise ConfigurationError("The agent eval measures the copilot agent; this installation answers another way.")
    cases = load_cases()
    with progress_bar() as bar:
        task = bar.add_task(f"choosing tools with {agent.model_name}", total=len(cases))
        result = evaluate_tool_choice(agent, cases, on_progress=lambda done, total: bar.update(task, completed=done))
    if json_output:
        emit_json({"model": result.model, "tool_accuracy": round(result.tool_accuracy, 4), "n": result.n})
        return
    console.print(
        f"[bold]{result.model}[/bold]: tool-choice accuracy {result.tool_accuracy:.1%} on {result.n} requests "
        f"({result.seconds:.0f} s, {result.seconds / max(result.n, 1):.1f} s per request)"
    )
    for miss in result.misses:
        expected = "/".join(miss["expected"])
        console.print(
            f"  [yellow]miss[/yellow] {miss['text']!r}: expected {expected}, chose {miss['chosen']} {miss['args']}"
        )


ANSWER_ASKER = "jason.reed"  # a rep: sees the public knowledge base, as most askers do
ANSWER_TRAINER = "zhao.lin"  # adds the set's documents, as a trainer would


@eval_app.command("answers")
@cli_errors
def eval_answers(
    set_name: Annotated[str, typer.Option("--set", help="The answer set: sec10q or demo.")] = "demo",
    docs: Annotated[Path | None, typer.Option("--docs", help="The set's documents folder, if not the default.")] = None,
    split: Annotated[str, typer.Option("--split", help="dev, test or all.")] = "all",
    limit: Annotated[int, typer.Option("--limit", help="Ask only the first N questions (0 = all).")] = 0,
    show: Annotated[bool, typer.Option("--show", help="Print every question, answer and score.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Answer quality of the configured model on a labelled set: correct, cited, honest.

    The set's documents go into a knowledge base of its own, beside the demo data, in
    <data_dir>/eval-answers-<set>; built once and reused afterwards.
    """
    from bot.demo.build import ensure_demo
    from bot.demo.render import KB_SOURCE_DIR
    from chains.answer_evaluation import evaluate_answers, load_answer_set

    if split not in ("dev", "test", "all"):
        raise InvalidInput("--split is dev, test or all.")
    answer_set = load_answer_set(set_name)
    folder = answer_set.documents_dir(docs)
    cases = [c for c in answer_set.cases if split in ("all", c.split)]
    cases = cases[:limit] if limit > 0 else cases
    settings = get_app().settings
    evaluation = isolated_app(settings, settings.data_dir / f"eval-answers-{set_name}")
    try:
        with progress_bar() as bar:
            task = bar.add_task("Preparing the knowledge base", total=None)

            def progress(step: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=step)

            ensure_demo(evaluation, progress, with_calls=False)
            # The demo's own knowledge base is already in; another set's documents are added.
            if folder.resolve() != KB_SOURCE_DIR.resolve():
                added = evaluation.knowledge.add_paths(
                    identity_for(evaluation, ANSWER_TRAINER), [folder], progress=progress
                )
                if added.failed:
                    # Answers scored without some of the set's documents would mean nothing.
                    failed = "; ".join(f"{path}: {reason}" for path, reason in added.failed)
                    raise InvalidInput(f"Some documents of answer set '{set_name}' could not be added: {failed}")
            agent = evaluation.answerer
            model = agent.model_name if isinstance(agent, CopilotAgent) else type(agent).__name__
            if isinstance(agent, CopilotAgent):
                agent.warm_up()
            bar.update(task, completed=0, total=len(cases), description=f"answering with {model}")
            scores = evaluate_answers(
                agent,
                identity_for(evaluation, ANSWER_ASKER),
                cases,
                set_name=set_name,
                model=model,
                on_progress=lambda done, _total: bar.update(task, completed=done),
            )
    finally:
        evaluation.close()
    if json_output:
        data = scores.to_dict()
        if show:
            data["results"] = [r.to_dict() for r in scores.results]
        emit_json(data)
        return
    table = Table("split", "n", "correct", "cited", "abst. P", "abst. R", "invented", "language", "p50 s", "p95 s")
    for label, part in (("dev", scores.of("dev")), ("test", scores.of("test")), ("all", scores)):
        f = part.figures()
        if f["n"]:
            table.add_row(
                label,
                str(f["n"]),
                *(_percent(f[key]) for key in ("correct", "citation_precision", "abstention_precision")),
                _percent(f["abstention_recall"]),
                str(f["invented_on_unanswerable"]),
                _percent(f["language"]),
                str(f["latency_p50_s"]),
                str(f["latency_p95_s"]),
            )
    table.title = f"Answers on '{set_name}' with {model}"
    console.print(table)
    for result in scores.results:
        if show or not result.correct:
            mark = "[green]ok[/green]" if result.correct else "[yellow]miss[/yellow]"
            console.print(f"{mark} [{result.case.split}] {result.case.id}: {result.case.question}")
            if show or not result.correct:
                console.print(f"    [dim]{' '.join(result.answer.split())[:300]}[/dim]")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
