"""The knowledge base trainers feed: loaders, chunking, idempotent and atomic ingestion."""

from knowledge_base._kb import ACCOUNT_KINDS, KINDS, DocumentInfo, IngestReport, KnowledgeBase
from knowledge_base._loaders import SUPPORTED_SUFFIXES, LoadedDocument, Section, load_document

__all__ = [
    "KnowledgeBase",
    "DocumentInfo",
    "IngestReport",
    "KINDS",
    "ACCOUNT_KINDS",
    "load_document",
    "LoadedDocument",
    "Section",
    "SUPPORTED_SUFFIXES",
]
