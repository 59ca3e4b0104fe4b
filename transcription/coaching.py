"""Coaching per gap: a talk track, up to three micro-lessons from the knowledge base, and a
role-play scenario the rep can practise in chat.

Talk tracks, goals and the role-play's wording come from the text catalogue
(`coaching.*` in prompts/<language>/messages.yaml); lessons only from the knowledge base, so
a knowledge base without lessons gives coaching without lessons.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.core.identity import Identity
from bot.core.text import language_of, t
from transcription.findings import Coaching, Finding, Lesson, RolePlay
from transcription.ports import KnowledgeSearch, LessonHit

__all__ = ["MAX_LESSONS", "coaching_for", "goal", "lessons_for", "roleplay_for", "talk_track"]

logger = logging.getLogger(__name__)

MAX_LESSONS = 3
SNIPPET_CHARS = 400


def talk_track(gap_type: str, language: str) -> str:
    """What the rep could have said."""
    return t(f"coaching.talk_track.{gap_type}", language)


def goal(gap_type: str, language: str) -> str:
    """What handling this gap well achieves (the role-play's goal)."""
    return t(f"coaching.goal.{gap_type}", language)


def lessons_for(knowledge: KnowledgeSearch, identity: Identity, gap_type: str, query: str) -> list[Lesson]:
    """Up to three micro-lessons `identity` may read: those tagged with the gap first, else
    the lessons closest to `query` (preferring those named after the gap)."""
    try:
        hits = list(knowledge.search(identity, query, kinds=["lesson"], k=MAX_LESSONS, gap=gap_type))
        if not hits:
            # Lessons whose gap tag did not survive ingestion: rank all lessons by meaning.
            ranked = list(knowledge.search(identity, query, kinds=["lesson"], k=6))
            hits = [h for h in ranked if gap_type in h.source] or ranked[:1]
    except Exception:  # retrieval down or not built: the talk track and role-play still help
        logger.warning("lesson retrieval failed for %s; coaching without lessons", gap_type, exc_info=True)
        return []
    return [_lesson(hit) for hit in _best_chunk_per_document(hits)[:MAX_LESSONS]]


def _best_chunk_per_document(hits: list[LessonHit]) -> list[LessonHit]:
    seen: set[int] = set()
    ordered = []
    for hit in hits:  # best first, so the first chunk of a document is its best
        if hit.doc_id not in seen:
            seen.add(hit.doc_id)
            ordered.append(hit)
    return ordered


def _lesson(hit: LessonHit) -> Lesson:
    return Lesson(title=hit.title, source=Path(hit.source).name, snippet=hit.text[:SNIPPET_CHARS])


def roleplay_for(finding: Finding, language: str) -> RolePlay:
    """A practice scenario: the customer opens with their own words from the call."""
    lang = language_of(language)
    door = next((e for e in finding.evidence if e.role == "door" and e.quote), None)
    aim = goal(finding.type, lang)
    return RolePlay(
        gap_type=finding.type,
        language=lang,
        persona=t("coaching.roleplay.persona", lang),
        opening_line=door.quote if door else t("coaching.roleplay.opening", lang),
        goal=aim,
        success_criteria=[aim, talk_track(finding.type, lang)],
        instructions=t("coaching.roleplay.instructions", lang),
    )


def coaching_for(
    knowledge: KnowledgeSearch | None, identity: Identity | None, finding: Finding, language: str
) -> Coaching:
    """The coaching for one finding; lessons need a knowledge base and the caller it is read as."""
    lessons: list[Lesson] = []
    if knowledge is not None and identity is not None:
        query = f"{goal(finding.type, language)} {finding.summary}"
        lessons = lessons_for(knowledge, identity, finding.type, query)
    return Coaching(
        talk_track=talk_track(finding.type, language),
        lessons=lessons,
        roleplay=roleplay_for(finding, language),
    )
