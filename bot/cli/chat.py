"""An interactive terminal chat: the same core the chat platforms use, streaming tokens."""

from __future__ import annotations

import uuid
from functools import partial

from rich.prompt import Prompt

from bot.app import App
from bot.cli.common import console, logs_to_file, warm_up_in_background
from bot.cli.render import print_reply
from bot.core.channel import InboundMessage
from bot.core.identity import Identity

__all__ = ["run_chat"]


def _echo(token: str, *, sink: list[str]) -> None:
    sink.append(token)
    console.print(token, end="", markup=False, highlight=False, soft_wrap=True)


def run_chat(app: App, identity: Identity) -> None:
    conversation = f"{identity.handle}:chat-{uuid.uuid4().hex[:8]}"
    log_file = logs_to_file(app)
    console.print(f"[bold]Sales Copilot[/bold]: chatting as {identity.describe()}. Empty line or Ctrl-D to quit.")
    console.print(f"[dim]Logs: {log_file}[/dim]")
    # Load the model and its routing prompt while the user types the first question.
    warm_up_in_background(app)
    turn = 0
    while True:
        try:
            text = Prompt.ask("[bold cyan]you[/bold cyan]")
        except (EOFError, KeyboardInterrupt):
            break
        if not text.strip():
            break
        turn += 1
        message = InboundMessage(
            platform="cli",
            event_id=f"{conversation}:{turn}",
            user_external_id=identity.handle,
            conversation_key=conversation,
            text=text,
        )
        streamed: list[str] = []
        console.print("[bold magenta]copilot[/bold magenta] ", end="")
        reply = app.copilot.handle(message, identity, on_token=partial(_echo, sink=streamed))
        if streamed:
            console.print()
            if "".join(streamed).strip() == reply.text.strip():
                reply.text = ""  # already shown as it streamed; print the rest (sources, tables)
            # else the model failed mid-answer: the reply holds the retrieval-only answer
        print_reply(reply)
        if reply.tool_calls:
            used = ", ".join(call["name"] for call in reply.tool_calls)
            console.print(f"[dim]tools: {used}[/dim]")
