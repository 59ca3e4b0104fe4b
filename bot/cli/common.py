"""What every CLI command shares: the app, the acting user, JSON output, errors, progress."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bot.app import App
from bot.core.errors import CopilotError
from bot.core.identity import Identity, resolve_user
from bot.core.settings import Settings
from chains.agent import CopilotAgent

__all__ = [
    "AsUser",
    "JsonFlag",
    "cli_errors",
    "console",
    "emit_json",
    "err_console",
    "get_app",
    "identity_for",
    "isolated_app",
    "logs_to_file",
    "progress_bar",
    "to_jsonable",
]

console = Console()
err_console = Console(stderr=True)
logger = logging.getLogger("copilot.cli")

AsUser = Annotated[
    str | None,
    typer.Option("--as", help="Act as this user (handle or email); their permissions apply.", show_default=False),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

_app: App | None = None


def get_app() -> App:
    """The CLI's composition root, built on first use (tests put their own in `_app`)."""
    global _app  # noqa: PLW0603 - one root per CLI process
    if _app is None:
        _app = App()
    return _app


def isolated_app(settings: Settings, data_dir: Path) -> App:
    """An App on its own data folder, SQLite database and local vector store: what an
    evaluation builds there never touches the installation's real ones."""
    return App(settings.model_copy(update={"data_dir": data_dir, "database_url": None, "chroma_host": None}))


def logs_to_file(app: App) -> Path:
    """Send log lines to <data_dir>/copilot.log and keep only warnings on the terminal: in an
    interactive chat, INFO lines from the warm-up would overwrite the prompt being typed."""
    path = app.settings.data_dir / "copilot.log"
    root = logging.getLogger()
    for handler in root.handlers:
        if type(handler) is logging.StreamHandler:
            handler.setLevel(logging.WARNING)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setLevel(app.settings.log_level.upper())
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(to_file)
    return path


def warm_up_in_background(app: App, nice: int = 0) -> None:
    """Load the answerer's model and cache its fixed prompts while nothing is asked yet (the
    first question would otherwise wait for them). With `nice`, it yields the CPU to webhooks."""
    answerer = app.answerer
    if not isinstance(answerer, CopilotAgent):
        return  # a scripted or custom answerer has nothing to warm up
    warm_up = answerer.warm_up

    def run() -> None:
        if nice:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        warm_up()

    threading.Thread(target=run, name="llm-warm-up", daemon=True).start()


def identity_for(app: App, as_user: str | None) -> Identity:
    who = as_user or app.settings.cli_user
    if not who:
        raise CopilotError("Say who you are with --as USER (a handle or email), or set COPILOT_CLI_USER.")
    with app.db.session() as session:
        return Identity.from_user(resolve_user(session, who))


def to_jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return round(value, 6)
    return value


def emit_json(data: Any) -> None:
    # Plain stdout, not rich: rich would wrap long lines and break the JSON.
    sys.stdout.write(json.dumps(to_jsonable(data), ensure_ascii=False, indent=2) + "\n")


P = ParamSpec("P")
R = TypeVar("R")


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Expected errors print their user message and exit 1; anything else is logged and exits 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except CopilotError as exc:
            err_console.print(f"[red]Error:[/red] {exc.user_message}")
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception:
            logger.exception("command failed")
            err_console.print("[red]Error:[/red] an internal error stopped the command; see the log above.")
            raise typer.Exit(2) from None

    return wrapper


@contextmanager
def progress_bar(transient: bool = True) -> Iterator[Progress]:
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=transient,
    ) as progress:
        yield progress
