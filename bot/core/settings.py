"""The one settings class. No other module reads environment variables.

Values come from the environment or a `.env` file. Copilot-specific names carry the
`COPILOT_` prefix; the platforms' and providers' own names keep their standard spelling
(`DATABASE_URL`, `SLACK_BOT_TOKEN`, `OPENAI_API_KEY`, `WECOM_CORP_ID`...).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


def _standard(name: str) -> AliasChoices:
    """Accept a platform's standard env name as well as the COPILOT_ one."""
    return AliasChoices(name, f"COPILOT_{name}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COPILOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- storage -------------------------------------------------------------------------
    data_dir: Path = Path(".copilot")
    database_url: str | None = Field(default=None, validation_alias=_standard("DATABASE_URL"))
    chroma_host: str | None = Field(default=None, validation_alias=_standard("CHROMA_HOST"))
    chroma_port: int = Field(default=8000, validation_alias=_standard("CHROMA_PORT"))
    chroma_collection: str = "knowledge"

    # --- runtime -------------------------------------------------------------------------
    cpu_threads: int = 2
    log_level: str = "INFO"
    default_language: Literal["en", "zh"] = "en"
    cli_user: str | None = None  # who the CLI acts as when --as is not given (handle or email)
    job_workers: int = 1
    job_worker_nice: int = 10  # background jobs run at a lower CPU priority than webhooks
    job_max_attempts: int = 3
    job_stale_after_s: float = 120.0

    # --- knowledge base and retrieval ----------------------------------------------------
    kb_max_file_mb: float = 20.0
    embedding_backend: Literal["use", "e5", "sentence-transformers"] = "use"
    embedding_model: str | None = None  # a sentence-transformers name or local path
    chunk_size: int = 800
    chunk_overlap: int = 120
    retrieval_top_k: int = 6
    # Below both, a query is off-topic for the knowledge base: answer "not covered", don't guess.
    retrieval_min_similarity: float = 0.25  # cosine, dense
    retrieval_min_bm25: float = 3.0
    # Hybrid fusion (chosen on `copilot eval retrieval`): a small RRF k rewards agreement near the
    # top; BM25 weighs less than dense because it cannot match across languages.
    retrieval_rrf_k: int = 10
    retrieval_bm25_weight: float = 0.7
    # Question-aware ranking, in the same units as a fused score (a first place is 1/(rrf_k+1)):
    # a document whose title, file name or opening passages name what the question names (a
    # company, a product, a ticker) gains up to `name_weight`; of those, one of the period the
    # question asks for ("Q2 2023", "the latest quarter") gains `period_weight` and one of another
    # period loses it. 0 and 0 rank as plain hybrid search.
    retrieval_name_weight: float = Field(default=0.06, ge=0)
    retrieval_period_weight: float = Field(default=0.1, ge=0)
    # A second stage: multilingual-e5 rescores the best `rerank_top_n` fused passages. Off by
    # default: e5 embeds a passage in ~0.35 s on 2 cores, so a cold top 20 costs seconds.
    retrieval_rerank: Literal["none", "e5"] = "none"
    retrieval_rerank_top_n: int = Field(default=20, ge=1)

    # --- answers from the knowledge base ---------------------------------------------------
    answer_passages: int = 6  # passages searched per question; their best sentences are the evidence
    answer_evidence_units: int = 4  # sentences or table rows the answer is written from
    # Below this evidence score (0..1: the best sentence's share of the question's key terms,
    # blended with its similarity) the knowledge base does not hold the answer: say so.
    answer_min_evidence: float = 0.3

    # --- transcription and call analysis -------------------------------------------------
    whisper_model: str = "base"  # "base" = the packaged model; or any faster-whisper size/path
    whisper_compute_type: str = "int8"
    whisper_beam_size: int = 1
    rep_channel: Literal["left", "right"] = "left"
    max_call_minutes: float = 90.0
    monologue_ratio_threshold: float = 0.65
    monologue_seconds_threshold: float = 60.0
    min_open_questions: int = 3
    gap_answer_window_turns: int = 2  # rep turns after a customer cue that count as answering it
    # An LLM confirms or rejects rule findings: "remote" = only with an OpenAI-compatible
    # endpoint (the local 1.5B model costs ~30 s per finding on 2 cores), "always", "off".
    gap_llm_judge: Literal["remote", "always", "off"] = "remote"
    # Customer sentences this close (cosine, multilingual USE) to a cue prototype open a door
    # the lexicons missed; 0 turns embedding matching off.
    gap_semantic_threshold: float = 0.5

    # --- LLM -----------------------------------------------------------------------------
    llm_provider: Literal["local", "openai", "none"] = "local"
    llm_model: str | None = None  # for openai-compatible endpoints, e.g. gpt-4o-mini, deepseek-chat
    llm_local_model: Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"] = "qwen2.5-coder-1.5b"
    llm_context_tokens: int = 4096
    llm_max_answer_tokens: int = 400
    # Tool results (passages, figures) the local model reads before it answers, in its tokens.
    # Each costs ~16 ms on 2 cores before the first answer token: 250 (two or three passages)
    # keeps a first token under ~5 s; raise it where the CPU is faster.
    llm_local_answer_context_tokens: int = Field(default=250, ge=100)
    llm_timeout_s: float = 120.0
    openai_api_key: SecretStr | None = Field(default=None, validation_alias=_standard("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(default=None, validation_alias=_standard("OPENAI_BASE_URL"))

    # --- Slack ---------------------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=_standard("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias=_standard("SLACK_SIGNING_SECRET"))
    slack_app_token: SecretStr | None = Field(default=None, validation_alias=_standard("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias=_standard("SLACK_API_URL"))

    # --- WeCom (企业微信) ------------------------------------------------------------------
    wecom_corp_id: str | None = Field(default=None, validation_alias=_standard("WECOM_CORP_ID"))
    wecom_agent_id: int | None = Field(default=None, validation_alias=_standard("WECOM_AGENT_ID"))
    wecom_secret: SecretStr | None = Field(default=None, validation_alias=_standard("WECOM_SECRET"))
    wecom_token: SecretStr | None = Field(default=None, validation_alias=_standard("WECOM_TOKEN"))
    wecom_encoding_aes_key: SecretStr | None = Field(default=None, validation_alias=_standard("WECOM_ENCODING_AES_KEY"))
    wecom_api_url: str = Field(
        default="https://qyapi.weixin.qq.com/cgi-bin/", validation_alias=_standard("WECOM_API_URL")
    )
    wecom_timestamp_window_s: int = 300  # callbacks older or newer than this are refused (replay)

    # --- demo ----------------------------------------------------------------------------
    demo_seed: int = 20261123

    # --- derived locations -----------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'copilot.db').resolve()}"

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def charts_dir(self) -> Path:
        return self.data_dir / "charts"

    def ensure_dirs(self) -> None:
        for folder in (self.data_dir, self.model_cache_dir, self.audio_dir, self.upload_dir, self.charts_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if not self.chroma_host:
            self.chroma_dir.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
