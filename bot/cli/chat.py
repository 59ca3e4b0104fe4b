"""An interactive terminal chat: the same core the chat platforms use, streaming tokens."""

from __future__ import annotations

import uuid

from rich.prompt import Prompt

from bot.app import App
from bot.channel import InboundMessage
from bot.cli.common import console
from bot.cli.render import print_reply
from bot.identity import Identity

__all__ = ["run_chat"]


def run_chat(app: App, identity: Identity) -> None:
    conversation = f"{identity.handle}:chat-{uuid.uuid4().hex[:8]}"
    console.print(f"[bold]Sales Copilot[/bold]: chatting as {identity.describe()}. Empty line or Ctrl-D to quit.")
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

        def show(token: str) -> None:
            streamed.append(token)
            console.print(token, end="", markup=False, highlight=False, soft_wrap=True)

        console.print("[bold magenta]copilot[/bold magenta] ", end="")
        reply = app.copilot.handle(message, identity, on_token=show)
        if streamed:
            console.print()
            reply.text = ""  # already shown as it streamed; print the rest (sources, tables)
        print_reply(reply)
