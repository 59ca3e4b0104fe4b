"""`copilot doctor`: is everything in place?"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from bot.app import App
from bot.cli.checks import CheckResult, run_checks
from bot.cli.common import JsonFlag, cli_errors, console, emit_json, get_app
from bot.core.models import Territory, User

__all__ = ["doctor"]

_MARK = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}


@cli_errors
def doctor(
    json_output: JsonFlag = False,
    users: Annotated[bool, typer.Option("--users", help="Also list the users the CLI can act as.")] = False,
) -> None:
    """Check models, folders, database, vector store and platform settings."""
    app = get_app()

    def show(result: CheckResult) -> None:
        if not json_output:
            console.print(
                f"{_MARK[result.status]:>22}  {result.name:<16} {result.detail} [dim]({result.seconds}s)[/dim]"
            )

    results = run_checks(app, show)
    user_rows = _users(app) if users else []
    if json_output:
        emit_json({"checks": results, "users": user_rows, "ok": all(r.status != "fail" for r in results)})
    elif users:
        table = Table("handle", "name", "role", "territory", "email")
        for row in user_rows:
            table.add_row(*(str(row[k] or "") for k in ("handle", "name", "role", "territory", "email")))
        console.print(table)
    if any(r.status == "fail" for r in results):
        raise typer.Exit(1)


def _users(app: App) -> list[dict[str, str | None]]:
    with app.db.session() as session:
        rows = session.execute(select(User, Territory.name).outerjoin(Territory).order_by(User.id)).all()
        return [
            {"handle": u.handle, "name": u.name, "role": u.role.value, "territory": t, "email": u.email}
            for u, t in rows
        ]
