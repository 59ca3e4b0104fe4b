"""User-facing text and language detection.

Every bilingual message lives in one catalogue per language, `prompts/<language>/messages.yaml`
(nested keys, read here as dotted names: `call.accepted`), and every prompt template in
`prompts/<language>/<name>.md`. Model-facing prompts that serve both languages live in
`prompts/shared/`. A test keeps the two catalogues' keys and placeholders identical.

`prompts` is a data package: it is read with `importlib.resources`, never imported as code.
"""

from __future__ import annotations

import re
import string
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

__all__ = [
    "LANGUAGES",
    "detect_language",
    "gap_label",
    "language_of",
    "messages",
    "placeholders",
    "prompt",
    "shared_prompt",
    "t",
]

LANGUAGES = ("en", "zh")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def detect_language(text: str, default: str = "en") -> str:
    """'zh' when Chinese carries the text, else 'en'. Mixed text with product names in
    Latin letters ("Lumina Insight 的价格是多少") counts as Chinese."""
    cjk = len(_CJK.findall(text))
    latin_words = len(_LATIN_WORD.findall(text))
    if cjk == 0 and latin_words == 0:
        return default
    # A Chinese word is about two characters; a term like 等保三级 inside an English
    # sentence must not flip it to Chinese.
    return "zh" if cjk >= 2 and cjk / 2 >= 0.8 * latin_words else "en"


def language_of(language: str | None) -> str:
    """A supported catalogue language for any language code (unknown ones read English)."""
    return language if language in LANGUAGES else "en"


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value).strip()
    return flat


@cache
def messages(language: str) -> dict[str, str]:
    """The whole catalogue of one language, flattened to dotted keys."""
    source = files("prompts").joinpath(language_of(language), "messages.yaml").read_text(encoding="utf-8")
    return _flatten(yaml.safe_load(source))


def t(key: str, language: str | None, /, **values: object) -> str:
    """A user-facing message in the asker's language, its {placeholders} filled."""
    return messages(language_of(language))[key].format(**values)


def gap_label(gap_type: str, language: str | None) -> str:
    """The readable name of a dialogue-gap type ("budget unclarified", "预算未澄清")."""
    return t(f"gap.label.{gap_type}", language)


@cache
def prompt(name: str, language: str | None) -> str:
    """A prompt template of one language (`prompts/<language>/<name>.md`)."""
    return files("prompts").joinpath(language_of(language), f"{name}.md").read_text(encoding="utf-8").strip()


@cache
def shared_prompt(name: str) -> str:
    """A model-facing prompt that serves every language (`prompts/shared/<name>.md`)."""
    return files("prompts").joinpath("shared", f"{name}.md").read_text(encoding="utf-8").strip()


def placeholders(template: str) -> set[str]:
    """The {names} a template fills (for the catalogue consistency test)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
