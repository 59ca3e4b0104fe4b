"""The user-facing text: one catalogue per language, and both say the same things."""

from __future__ import annotations

from importlib.resources import files

import pytest

from bot.core.text import LANGUAGES, gap_label, messages, placeholders, prompt, shared_prompt, t

PROMPTS = files("prompts")


def _templates(language: str) -> set[str]:
    return {entry.name for entry in PROMPTS.joinpath(language).iterdir() if entry.name.endswith(".md")}


def test_every_language_has_the_same_keys_and_placeholders() -> None:
    english = messages("en")
    for language in LANGUAGES:
        other = messages(language)
        assert set(other) == set(english), f"{language}: keys differ from en"
        for key, text in english.items():
            assert placeholders(other[key]) == placeholders(text), f"{language}:{key} placeholders differ"
            assert other[key].strip(), f"{language}:{key} is empty"


def test_every_language_has_the_same_prompt_templates_and_placeholders() -> None:
    names = _templates("en")
    assert names, "no English prompt templates found"
    for language in LANGUAGES:
        assert _templates(language) == names, f"{language}: prompt files differ from en"
        for name in names:
            stem = name.removesuffix(".md")
            assert placeholders(prompt(stem, language)) == placeholders(prompt(stem, "en")), f"{language}/{name}"


def test_messages_fill_their_placeholders_and_unknown_languages_read_english() -> None:
    assert "trainer" in t("kb.refused", "en", name="x.pdf")
    assert "培训师" in t("kb.refused", "zh", name="x.pdf")
    assert t("kb.refused", "fr", name="x.pdf") == t("kb.refused", "en", name="x.pdf")
    with pytest.raises(KeyError):
        t("kb.refused", "en")  # a missing value is a bug, not an empty hole


def test_gap_labels_and_shared_prompts() -> None:
    assert gap_label("budget_unclarified", "zh") == "预算未澄清"
    assert gap_label("budget_unclarified", "en") == "budget unclarified"
    assert placeholders(shared_prompt("tool_choice")) == {"tools"}
    assert placeholders(shared_prompt("gap_judge")) == {"gap", "summary", "evidence", "transcript"}


def test_every_gap_type_has_a_label_a_talk_track_and_a_goal() -> None:
    from transcription.gaps import GAP_TYPES

    for gap in GAP_TYPES:
        for language in LANGUAGES:
            assert gap_label(gap, language)
            assert t(f"coaching.talk_track.{gap}", language)
            assert t(f"coaching.goal.{gap}", language)
