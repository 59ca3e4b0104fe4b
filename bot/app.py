"""The composition root: settings, database, job queue, the copilot core and its services.

Heavy services (embedder, vector store, Whisper, the LLM) load lazily on first use, so a
webhook process starts in a second and `copilot doctor` can check each part on its own.
Every CLI command, server and test builds one `App` and takes what it needs from it.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

from bot.copilot import Copilot
from bot.db import Database
from bot.jobs import JobQueue
from bot.model_assets import set_hub_offline
from bot.settings import Settings, get_settings

if TYPE_CHECKING:
    from bot.copilot import Answerer, CallIntake, KnowledgeIntake
    from retrieval import Retriever

__all__ = ["App"]

logger = logging.getLogger(__name__)


class App:
    def __init__(self, settings: Settings | None = None, *, migrate: bool = True) -> None:
        self.settings = settings or get_settings()
        set_hub_offline()
        self.settings.ensure_dirs()
        self.db = Database(self.settings)
        if migrate:
            self.db.migrate()
        self.jobs = JobQueue(
            self.db,
            max_attempts=self.settings.job_max_attempts,
            stale_after_s=self.settings.job_stale_after_s,
        )
        self.copilot = Copilot(self)
        self._register_job_handlers()

    def _register_job_handlers(self) -> None:
        """Each service registers the job kinds it runs (call analysis, platform events...)."""
        from transcription.service import register_jobs as register_call_jobs

        register_call_jobs(self)

    # --- services (lazy) ---------------------------------------------------------------------
    @cached_property
    def knowledge(self) -> KnowledgeIntake:
        from knowledge_base import KnowledgeBase

        return KnowledgeBase(self)

    @cached_property
    def retriever(self) -> Retriever:
        from retrieval import Retriever

        return Retriever(self)

    @cached_property
    def calls(self) -> CallIntake:
        from transcription.service import CallService

        return CallService(self)

    @cached_property
    def answerer(self) -> Answerer:
        from chains.agent import build_answerer

        return build_answerer(self)

    def close(self) -> None:
        self.db.dispose()
