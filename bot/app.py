"""The composition root: builds the services from settings and hands each what it needs.

Only the outer ring (the CLI, the servers, the demo builder, benchmarks and tests) imports
this module; services never see it. Each service is built on first use, so a command that
needs only the database never loads a model. Tests and tools replace any service by passing
it in: `App(settings, retriever=fake)`.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bot.core.assets import set_hub_offline
from bot.core.channel import Reply
from bot.core.copilot import Copilot
from bot.core.db import Database
from bot.core.jobs import JobContext, JobView
from bot.core.settings import Settings, get_settings
from bot.infra.jobs import DatabaseJobQueue

if TYPE_CHECKING:
    from bot.core.ports import Answerer
    from knowledge_base import KnowledgeBase
    from retrieval import Retriever
    from transcription.judge import GapJudge
    from transcription.service import CallService

__all__ = ["App"]

logger = logging.getLogger(__name__)


class App:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        migrate: bool = True,
        retriever: Retriever | None = None,
        knowledge: KnowledgeBase | None = None,
        calls: CallService | None = None,
        answerer: Answerer | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        set_hub_offline()
        self.settings.ensure_dirs()
        self.db = Database(self.settings)
        if migrate:
            self.db.migrate()
        self.jobs = DatabaseJobQueue(
            self.db,
            max_attempts=self.settings.job_max_attempts,
            stale_after_s=self.settings.job_stale_after_s,
        )
        # Services given here take the place of the ones this root would build.
        self._given: dict[str, Any] = {
            "retriever": retriever,
            "knowledge": knowledge,
            "calls": calls,
            "answerer": answerer,
        }
        self._register_jobs()

    def _register_jobs(self) -> None:
        from transcription.service import CALL_JOB_KIND

        self.jobs.register(CALL_JOB_KIND, self._run_call_job)

    def _run_call_job(self, ctx: JobContext) -> dict[str, Any] | None:
        # The call service is built when the first analysis runs, not when the queue is made.
        return self.calls.run_job(ctx)

    # --- services (built on first use) ------------------------------------------------------
    @cached_property
    def retriever(self) -> Retriever:
        from retrieval import Retriever

        if self._given["retriever"] is not None:
            return self._given["retriever"]
        return Retriever(self.settings, self.db.session)

    @cached_property
    def knowledge(self) -> KnowledgeBase:
        from knowledge_base import KnowledgeBase

        if self._given["knowledge"] is not None:
            return self._given["knowledge"]
        return KnowledgeBase(self.settings, self.db.session, self.retriever)

    @cached_property
    def calls(self) -> CallService:
        from transcription.service import CallService

        if self._given["calls"] is not None:
            return self._given["calls"]
        return CallService(self.settings, self.db.session, self.jobs, knowledge=self.retriever, judge=self._gap_judge())

    @cached_property
    def answerer(self) -> Answerer:
        from chains.agent import CopilotAgent

        if self._given["answerer"] is not None:
            return self._given["answerer"]
        settings = self.settings

        def agent(**model: Any) -> CopilotAgent:
            return CopilotAgent(settings, self.db.session, self.retriever, self.calls, **model)

        if settings.llm_provider == "openai":
            from bot.core.errors import ConfigurationError
            from integrations.llm import openai_chat_model

            try:
                return agent(chat_model=openai_chat_model(settings))
            except ConfigurationError as exc:
                # Misconfigured endpoint: still answer, from retrieval, and say what to fix.
                logger.error("LLM not configured: %s", exc.user_message)
                return agent(unavailable=exc.user_message)
        if settings.llm_provider == "local":
            from integrations.llm import LocalLLM

            return agent(local=LocalLLM(settings), quick_route=True)
        return agent()

    @cached_property
    def copilot(self) -> Copilot:
        from transcription.service import CALL_JOB_KIND

        copilot = Copilot(
            sessions=self.db.session,
            jobs=self.jobs,
            answerer=self.answerer,
            knowledge=self.knowledge,
            calls=self.calls,
            default_language=self.settings.default_language,
        )
        copilot.register_result_formatter(CALL_JOB_KIND, self._call_result)
        return copilot

    def _call_result(self, job: JobView, language: str) -> Reply:
        # Looked up when a job finishes, not bound when the copilot is built: a call service
        # given in (a test's, a custom one) need only do what the copilot core asks of it.
        return self.calls.result_reply(job, language)

    def _gap_judge(self) -> GapJudge | None:
        """The LLM that confirms gap findings, when settings ask for one (rules alone otherwise)."""
        from transcription.judge import ChatModelJudge, LocalJudge

        settings = self.settings
        if settings.gap_llm_judge == "off" or settings.llm_provider == "none":
            return None
        if settings.llm_provider == "local" and settings.gap_llm_judge != "always":
            return None
        try:
            if settings.llm_provider == "openai":
                from integrations.llm import openai_chat_model

                return ChatModelJudge(openai_chat_model(settings))
            from integrations.llm import LocalLLM

            return LocalJudge(LocalLLM(settings))
        except Exception:
            logger.warning("no LLM judge available; rules only", exc_info=True)
            return None

    def close(self) -> None:
        self.db.dispose()
