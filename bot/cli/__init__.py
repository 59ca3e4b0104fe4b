"""The `copilot` command line: the public contract other parts and checks rely on."""

from __future__ import annotations

import logging

import typer

from bot.cli.agent import ask, chat
from bot.cli.calls import call_app
from bot.cli.demo import demo
from bot.cli.doctor import doctor
from bot.cli.evals import eval_app
from bot.cli.insights import forecast_command, import_app, resonance_command, risk_app, summary_command
from bot.cli.kb import kb_app
from bot.cli.serve import serve_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="copilot",
    help="Sales Copilot: a bilingual AI sales copilot for Slack and WeCom (and this terminal).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(demo)
app.command()(ask)
app.command()(chat)
app.command()(doctor)
app.add_typer(kb_app, name="kb")
app.add_typer(call_app, name="call")
app.add_typer(serve_app, name="serve")
app.add_typer(eval_app, name="eval")
app.command("forecast")(forecast_command)
app.command("resonance")(resonance_command)
app.command("summary")(summary_command)
app.add_typer(risk_app, name="risk")
app.add_typer(import_app, name="import")


def main() -> None:
    from bot.core.settings import get_settings

    level = get_settings().log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The handler filters too: some libraries (bm25s) set their own logger to DEBUG on import.
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    # Chatty libraries stay quiet unless something is wrong.
    for noisy in ("httpx", "chromadb", "faster_whisper", "urllib3", "jieba", "alembic", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app()
