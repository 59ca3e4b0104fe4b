"""`copilot eval ...`: labelled evaluations that print their figures (each area adds one)."""

from __future__ import annotations

import typer

__all__ = ["eval_app"]

eval_app = typer.Typer(help="Run a labelled evaluation and print its figures.", no_args_is_help=True)
