"""Coaching lessons come from the knowledge base (retrieval filtered by gap), and only from it."""

from __future__ import annotations

from transcription.coaching import lessons_for

QUERIES = {"en": "handle a price objection", "zh": "澄清预算和审批人"}


def test_lessons_are_retrieved_from_the_knowledge_base_by_gap(demo_kb_app, who) -> None:
    rep = who("li.wei")
    for gap, language in (("price_objection_mishandled", "en"), ("budget_unclarified", "zh")):
        lessons = lessons_for(demo_kb_app.retriever, rep, gap, QUERIES[language])
        assert 1 <= len(lessons) <= 3
        assert all(gap in lesson.source for lesson in lessons), lessons
        assert all(lesson.snippet and lesson.title for lesson in lessons)
