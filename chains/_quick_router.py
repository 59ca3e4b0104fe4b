"""The quick router: plain knowledge questions go straight to search, skipping the local model's
tool-choice step (about 2 s of a 2-core CPU per question).

Requests are compared with example requests per tool (router_examples.yaml) in the retriever's
embedding space. Only a request clearly nearer the knowledge examples than any data tool's is
routed here; everything else, and anything naming an account, still goes to the model. The
required margin is calibrated on the examples themselves (leave one out), so it fits whichever
embedder is configured.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from retrieval import Embedder

__all__ = ["EXAMPLES_FILE", "KNOWLEDGE_TOOL", "QuickRouter"]

EXAMPLES_FILE = Path(__file__).parent / "router_examples.yaml"
KNOWLEDGE_TOOL = "search_knowledge"
SAFETY = 0.02  # added to the widest margin a data-tool example reached toward knowledge


class QuickRouter:
    def __init__(self, embedder: Embedder, examples: dict[str, list[str]] | None = None) -> None:
        examples = examples or yaml.safe_load(EXAMPLES_FILE.read_text(encoding="utf-8"))
        self.embedder = embedder
        self.tools = sorted(examples)
        self.labels = np.array([self.tools.index(tool) for tool in self.tools for _ in examples[tool]])
        self.vectors = np.stack([embedder.embed_query(text) for tool in self.tools for text in examples[tool]])
        self.margin = self._calibrate()

    def is_knowledge_question(self, text: str) -> bool:
        """True when `text` is clearly a question for the knowledge base."""
        return self._knowledge_margin(self.vectors @ self.embedder.embed_query(text)) >= self.margin

    def _knowledge_margin(self, similarities: np.ndarray) -> float:
        """How much nearer the knowledge examples are than the nearest data-tool example."""
        knowledge = self.labels == self.tools.index(KNOWLEDGE_TOOL)
        if not knowledge.any() or knowledge.all():
            return -1.0
        return float(similarities[knowledge].max() - similarities[~knowledge].max())

    def _calibrate(self) -> float:
        """The smallest margin that sends no data-tool example to search when it is left out."""
        similarities = self.vectors @ self.vectors.T
        np.fill_diagonal(similarities, -np.inf)
        knowledge = self.tools.index(KNOWLEDGE_TOOL)
        widest = max(
            (self._knowledge_margin(similarities[i]) for i in range(len(self.labels)) if self.labels[i] != knowledge),
            default=0.0,
        )
        return max(widest, 0.0) + SAFETY
