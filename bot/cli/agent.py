"""`copilot ask` and `copilot chat`: talk to the agent from the terminal."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import AsUser, JsonFlag, cli_errors, emit_json, get_app, identity_for
from bot.cli.demo import ask_once
from bot.cli.render import print_reply

__all__ = ["ask", "chat"]


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
