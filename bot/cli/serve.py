"""`copilot serve ...`: run a chat platform adapter (each platform adds its command here)."""

from __future__ import annotations

import typer

__all__ = ["serve_app"]

serve_app = typer.Typer(help="Run the copilot for a chat platform.", no_args_is_help=True)
