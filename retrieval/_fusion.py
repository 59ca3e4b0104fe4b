"""Reciprocal rank fusion: merge ranked lists without calibrating their scores; then what the
question says of whole documents, added in the same units."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["add_document_prior", "reciprocal_rank_fusion", "rerank"]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Each list adds weight / (k + rank) to an item's score; best first, ties by id."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def add_document_prior(
    fused: Sequence[tuple[str, float]], document_of: Mapping[str, int], prior: Mapping[int, float]
) -> list[tuple[str, float]]:
    """Each item gains its document's prior (RRF units: a first place in one list is 1/(k+1));
    best first, ties by id. No prior, no change."""
    if not prior:
        return list(fused)
    scored = [(item, score + prior.get(document_of[item], 0.0)) for item, score in fused]
    return sorted(scored, key=lambda pair: (-pair[1], pair[0]))


def rerank(
    ranked: Sequence[tuple[str, float]],
    similarity: Mapping[str, float],
    *,
    k: int,
    document_of: Mapping[str, int],
    prior: Mapping[int, float],
) -> list[tuple[str, float]]:
    """The items a second-stage model scored (`similarity`), reordered by fusing their first-stage
    order with the model's (RRF with `k`) plus their document prior, which the model cannot see;
    then the others, as they were."""
    head = [item for item, _ in ranked if item in similarity]
    by_model = sorted(head, key=lambda item: (-similarity[item], item))
    fused = add_document_prior(reciprocal_rank_fusion([head, by_model], k=k), document_of, prior)
    return fused + [pair for pair in ranked if pair[0] not in similarity]
