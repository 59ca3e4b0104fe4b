"""`copilot demo`: build the embedded demo org on first use, then chat as a demo user."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import TaskID

from bot.cli.common import AsUser, JsonFlag, cli_errors, emit_json, err_console, get_app, identity_for, progress_bar
from bot.cli.render import print_reply
from bot.core.channel import InboundMessage, Reply
from bot.demo.build import ensure_demo

__all__ = ["DEFAULT_DEMO_USER", "ask_once", "demo"]

DEFAULT_DEMO_USER = "jason.reed"


def ask_once(as_user: str, text: str, conversation_key: str = "cli") -> Reply:
    app = get_app()
    identity = identity_for(app, as_user)
    message = InboundMessage(
        platform="cli",
        event_id=f"cli-{identity.handle}",
        user_external_id=identity.handle,
        conversation_key=f"{identity.handle}:{conversation_key}",
        text=text,
    )
    return app.copilot.handle(message, identity)


@cli_errors
def demo(
    as_user: AsUser = None,
    ask: Annotated[str | None, typer.Option("--ask", help="Ask one question and exit.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Build the demo org if absent (SQLite + local Chroma + packaged models), then chat as a demo user."""
    app = get_app()
    with progress_bar() as bar:
        tasks: dict[str, TaskID] = {}

        def report(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        built = ensure_demo(app, report)
    if built.built_org or built.documents or built.calls:
        err_console.print(
            f"[green]Demo ready[/green]: {built.documents} documents, {built.calls} sample calls analysed."
        )
    who = as_user or app.settings.cli_user or DEFAULT_DEMO_USER
    if ask is not None:
        reply = ask_once(who, ask)
        if json_output:
            emit_json(reply.to_dict())
        else:
            print_reply(reply)
        if reply.kind == "error":
            raise typer.Exit(1)
        return
    from bot.cli.chat import run_chat

    run_chat(app, identity_for(app, who))
