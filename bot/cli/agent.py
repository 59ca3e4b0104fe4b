"""`copilot ask`, `copilot chat`: talk to the agent from the terminal; `copilot eval agent`."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import AsUser, JsonFlag, cli_errors, console, emit_json, get_app, identity_for, progress_bar
from bot.cli.demo import ask_once
from bot.cli.evals import eval_app
from bot.cli.render import print_reply
from bot.core.errors import ConfigurationError
from chains.agent import CopilotAgent

__all__ = ["ask", "chat", "eval_agent"]


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
