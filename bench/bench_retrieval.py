"""Retrieval benchmark: ingestion chunks/s and query latency p50/p95 at 1k and 10k chunks.

Run: .venv/bin/python bench/bench_retrieval.py [--sizes 1000 10000] [--queries 60]
Ingestion: synthetic bilingual Markdown documents whose sections fill whole chunks, then the demo
knowledge base (real documents, mostly shorter sections), go through the real path (loader,
chunker, embedder, Chroma, database) as a trainer adds them. Scale: the collection then grows to
each size with synthetic chunks reusing those real texts and vectors (plus noise), each under a
real document row. Queries run as a rep, so the access rule (which documents, at which versions,
the rep may read) is part of every measured search. Figures are wall-clock on this machine;
other work sharing the CPU makes them pessimistic.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import App
from bot.core.identity import Identity, resolve_user
from bot.core.models import KnowledgeChunk, KnowledgeDocument, Visibility
from bot.core.settings import Settings
from bot.demo.org import build_org
from retrieval import ChunkRecord

TOPICS_EN = [
    "pricing",
    "renewal",
    "integration",
    "security review",
    "data residency",
    "discount approval",
    "pilot scope",
    "champion",
    "budget cycle",
    "implementation plan",
    "service desk",
    "forecast accuracy",
]
TOPICS_ZH = [
    "价格",
    "续约",
    "系统集成",
    "安全评审",
    "数据驻留",
    "折扣审批",
    "试点范围",
    "内部支持者",
    "预算周期",
    "实施计划",
    "智能客服",
    "预测准确率",
]
PASSAGES_PER_DOC = 20
DEMO_KB = Path(__file__).resolve().parents[1] / "bot" / "demo" / "kb"


def _document(number: int, rng: random.Random) -> str:
    lines = [f"# Synthetic playbook {number}\n"]
    for section in range(PASSAGES_PER_DOC):
        if (number + section) % 2:
            topic = rng.choice(TOPICS_ZH)
            body = "".join(
                f"关于{topic}，第{number}号手册第{section}节第{i}条建议：先确认客户的{rng.choice(TOPICS_ZH)}，再讨论{rng.choice(TOPICS_ZH)}。"
                for i in range(12)
            )
            lines.append(f"## {topic} {section}\n\n{body}\n")
        else:
            topic = rng.choice(TOPICS_EN)
            body = " ".join(
                f"Note {i} on {topic} in playbook {number} section {section}: confirm the customer's "
                f"{rng.choice(TOPICS_EN)} before you discuss {rng.choice(TOPICS_EN)}."
                for i in range(7)
            )
            lines.append(f"## {topic.title()} {section}\n\n{body}\n")
    return "\n".join(lines)


def _characters(app: App) -> int:
    with app.db.session() as session:
        return session.scalar(select(func.coalesce(func.sum(func.length(KnowledgeChunk.text)), 0))) or 0


def _ingest_demo_knowledge_base(app: App, trainer: Identity) -> None:
    """The same path on real documents (the demo playbooks, battle cards, lessons and histories),
    whose sections are mostly shorter than the chunk size."""
    before_chunks, before_characters = app.retriever.collection.count(), _characters(app)
    files = sorted(p for p in DEMO_KB.rglob("*") if p.is_file() and p.name != "README.md")
    started = time.perf_counter()
    report = app.knowledge.add_paths(trainer, files)
    elapsed = time.perf_counter() - started
    if report.failed:
        raise SystemExit(f"ingestion failed: {report.failed[:3]}")
    chunks = app.retriever.collection.count() - before_chunks
    characters = _characters(app) - before_characters
    print(
        f"ingestion, demo knowledge base: {chunks} chunks (mean {characters / chunks:.0f} characters) from "
        f"{len(files)} files in {elapsed:.1f} s = {chunks / elapsed:.1f} chunks/s, "
        f"{characters / elapsed / 1000:.1f}k characters/s"
    )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _scale_to(app: App, target: int, pool_texts: list[str], pool_vectors: np.ndarray, rng: random.Random) -> None:
    """Grow the collection to `target` chunks with synthetic passages: real texts and real
    vectors from a pool (plus noise, so no two are identical), each 20 under a real document row."""
    count = app.retriever.collection.count()
    while count < target:
        n = min(PASSAGES_PER_DOC, target - count)
        with app.db.session() as session:
            document = KnowledgeDocument(
                source_path=f"bench:synthetic-{count}",
                title=f"Synthetic {count}",
                kind="playbook",
                language="en",
                format="md",
                visibility=Visibility.EVERYONE,
                version=1,
                content_hash=f"{count:064d}",
                size_bytes=0,
                chunk_count=n,
                source="cli",
            )
            session.add(document)
            session.flush()
            doc_id = document.id
            picks = [rng.randrange(len(pool_texts)) for _ in range(n)]
            session.add_all(
                KnowledgeChunk(id=f"{doc_id}:1:{i}", document_id=doc_id, version=1, position=i, text=pool_texts[p])
                for i, p in enumerate(picks)
            )
        vectors = pool_vectors[picks] + np.random.default_rng(count).normal(0, 0.02, (n, pool_vectors.shape[1]))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        records = [
            ChunkRecord(
                chunk_id=f"{doc_id}:1:{i}",
                text=pool_texts[p],
                doc_id=doc_id,
                version=1,
                title=f"Synthetic {count}",
                source="bench",
                kind="playbook",
                language="en",
                visibility="everyone",
                account_id=None,
                territory_id=None,
                gap=None,
                position=i,
            )
            for i, p in enumerate(picks)
        ]
        app.retriever.collection.upsert(
            ids=[r.chunk_id for r in records],
            embeddings=vectors.astype(np.float32).tolist(),
            metadatas=[r.metadata() for r in records],
        )
        count += n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest-files", type=int, default=10, help="synthetic documents ingested end to end")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="corpus sizes in chunks")
    parser.add_argument("--queries", type=int, default=60, help="queries per size and mode")
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as folder:
        app = App(Settings(_env_file=None, data_dir=Path(folder), llm_provider="none"))
        with app.db.session() as session:
            build_org(session, app.settings.demo_seed, date(2026, 11, 23))
        with app.db.session() as session:
            trainer = Identity.from_user(resolve_user(session, "zhao.lin"))
            rep = Identity.from_user(resolve_user(session, "li.wei"))
        app.retriever.embedder.embed_query("warm up")  # model load is not ingestion,
        app.retriever.collection.count()  # nor is opening the vector store (chromadb loads on first use)
        docs_dir = Path(folder) / "docs"
        docs_dir.mkdir()
        files = []
        for number in range(args.ingest_files):
            path = docs_dir / f"playbook-{number:05d}.md"
            path.write_text(_document(number, rng), encoding="utf-8")
            files.append(path)
        started = time.perf_counter()
        report = app.knowledge.add_paths(trainer, files)
        elapsed = time.perf_counter() - started
        if report.failed:
            raise SystemExit(f"ingestion failed: {report.failed[:3]}")
        ingested = app.retriever.collection.count()
        print(
            f"ingestion, synthetic full-size chunks (load, chunk, embed, Chroma, DB): {ingested} chunks from "
            f"{len(files)} files in {elapsed:.1f} s = {ingested / elapsed:.1f} chunks/s, "
            f"{_characters(app) / elapsed / 1000:.1f}k characters/s"
        )
        _ingest_demo_knowledge_base(app, trainer)
        pool = app.retriever.collection.get(include=["embeddings"])
        with app.db.session() as session:
            texts = dict(session.execute(select(KnowledgeChunk.id, KnowledgeChunk.text)).all())
        pool_texts, pool_vectors = [texts[i] for i in pool["ids"]], np.asarray(pool["embeddings"], dtype=np.float32)
        for size in sorted(args.sizes):
            _scale_to(app, size, pool_texts, pool_vectors, rng)
            total = app.retriever.collection.count()
            queries = [
                f"how do I handle {rng.choice(TOPICS_EN)} and {rng.choice(TOPICS_EN)}?"
                if i % 2
                else f"{rng.choice(TOPICS_ZH)}和{rng.choice(TOPICS_ZH)}怎么处理？"
                for i in range(args.queries)
            ]
            for mode in ("dense", "bm25", "hybrid"):
                app.retriever.search(rep, "warm up the index", mode=mode)  # BM25 (re)build is not a query
                latencies = []
                for query in queries:
                    started = time.perf_counter()
                    app.retriever.search(rep, query, k=6, mode=mode)
                    latencies.append((time.perf_counter() - started) * 1000)
                print(
                    f"[{total} chunks] {mode:6s} query: p50 {statistics.median(latencies):.1f} ms, "
                    f"p95 {_percentile(latencies, 0.95):.1f} ms ({len(latencies)} queries, as a rep)"
                )
        app.close()


if __name__ == "__main__":
    main()
