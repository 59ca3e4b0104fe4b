"""chunk texts copied from the vector store

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 15:10:00

A knowledge base ingested before 0003 kept its passages' texts only in Chroma. This copies
the live versions' texts into `knowledge_chunks` once (the database is where search reads
them). It reads the vector store the settings name (local folder or server); with nothing to
copy, or no settings (offline SQL generation), it does nothing.
"""

import logging

import sqlalchemy as sa
from alembic import context, op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

logger = logging.getLogger(__name__)


def upgrade() -> None:
    settings = context.config.attributes.get("settings")
    if settings is None or context.is_offline_mode():
        return  # offline SQL generation has no database to read, nor a store to copy from
    connection = op.get_bind()
    has_texts = connection.execute(sa.text("SELECT 1 FROM knowledge_chunks LIMIT 1")).first()
    has_passages = connection.execute(
        sa.text("SELECT 1 FROM knowledge_documents WHERE chunk_count > 0 LIMIT 1")
    ).first()
    if has_texts or not has_passages:
        return
    import chromadb

    if settings.chroma_host:
        client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port)
    elif settings.chroma_dir.is_dir():
        client = chromadb.PersistentClient(path=str(settings.chroma_dir))
    else:
        return
    live = dict(connection.execute(sa.text("SELECT id, version FROM knowledge_documents")).all())
    chunks = sa.table(
        "knowledge_chunks",
        sa.column("id", sa.String), sa.column("document_id", sa.Integer), sa.column("version", sa.Integer),
        sa.column("position", sa.Integer), sa.column("text", sa.Text),
    )
    copied: dict[str, dict[str, object]] = {}
    for collection in client.list_collections():
        if not collection.name.startswith(f"{settings.chroma_collection}-"):
            continue
        stored = client.get_collection(collection.name).get(include=["documents", "metadatas"])
        for chunk_id, text, meta in zip(stored["ids"], stored["documents"], stored["metadatas"], strict=True):
            if text is not None and live.get(int(meta["doc_id"])) == int(meta["version"]):
                copied[chunk_id] = {
                    "id": chunk_id, "document_id": int(meta["doc_id"]), "version": int(meta["version"]),
                    "position": int(meta["position"]), "text": text,
                }
    if copied:
        op.bulk_insert(chunks, list(copied.values()))
    logger.info("copied %d chunk texts from the vector store into the database", len(copied))


def downgrade() -> None:
    """The texts stay: 0003's downgrade drops the table."""
