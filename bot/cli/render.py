"""Show a `Reply` in the terminal: the CLI is one more channel over the same core."""

from __future__ import annotations

from rich.markdown import Markdown
from rich.table import Table

from bot.cli.common import console
from bot.core.channel import Reply

__all__ = ["print_reply"]

_STYLE = {"answer": "", "accepted": "cyan", "refusal": "yellow", "error": "red"}


def print_reply(reply: Reply) -> None:
    style = _STYLE.get(reply.kind, "")
    if style:
        console.print(reply.text, style=style)
    else:
        console.print(Markdown(reply.text))
    for table in reply.tables:
        grid = Table(title=table.title or None)
        for column in table.columns:
            grid.add_column(str(column))
        for row in table.rows:
            grid.add_row(*(str(v) for v in row))
        console.print(grid)
    for image in reply.images:
        console.print(f"[dim]chart:[/dim] {image.title}: {image.path}")
    if reply.citations:
        console.print("[bold]Sources[/bold]")
        for citation in reply.citations:
            console.print(f"  [{citation.index}] {citation.title} [dim]({citation.source})[/dim]")
