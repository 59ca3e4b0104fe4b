"""The knowledge base trainers feed: loaders, chunking, idempotent and atomic ingestion."""

from knowledge_base._kb import ACCOUNT_KINDS, KINDS, ChunkIndex, DocumentInfo, IngestReport, KnowledgeBase
from knowledge_base._loaders import SUPPORTED_SUFFIXES, LoadedDocument, Section, load_document

__all__ = [
    "ACCOUNT_KINDS",
    "KINDS",
    "SUPPORTED_SUFFIXES",
    "ChunkIndex",
    "DocumentInfo",
    "IngestReport",
    "KnowledgeBase",
    "LoadedDocument",
    "Section",
    "load_document",
]
