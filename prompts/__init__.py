"""Prompt templates as files, one folder per language: `load(name, language)`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["load"]

_ROOT = Path(__file__).parent


@cache
def load(name: str, language: str) -> str:
    path = _ROOT / (language if language in ("en", "zh") else "en") / f"{name}.md"
    return path.read_text(encoding="utf-8").strip()
