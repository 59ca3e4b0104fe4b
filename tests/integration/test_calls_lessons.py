"""Coaching lessons come from the knowledge base (retrieval filtered by gap) once it is built."""

from __future__ import annotations

import transcription.coaching as coaching
from transcription.coaching import lessons_for


def test_lessons_are_retrieved_from_the_knowledge_base_by_gap(demo_kb_app, who, monkeypatch) -> None:
    def no_files(*_args):
        raise AssertionError("the lesson files were read instead of the knowledge base")

    monkeypatch.setattr(coaching, "_lesson_files", no_files)
    rep = who("li.wei")
    for gap, language in (("price_objection_mishandled", "en"), ("budget_unclarified", "zh")):
        lessons = lessons_for(demo_kb_app, rep, gap, language, {"en": "handle a price objection", "zh": "澄清预算和审批人"}[language])
        assert 1 <= len(lessons) <= 3
        assert all(gap in lesson["source"] for lesson in lessons), lessons
        assert all(lesson["snippet"] for lesson in lessons)
