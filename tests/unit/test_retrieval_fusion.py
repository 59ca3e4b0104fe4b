import pytest

from retrieval._fusion import reciprocal_rank_fusion
from retrieval._text import tokenize


def test_items_found_by_both_rankers_win() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d", "a"]])
    assert [item for item, _ in fused][:2] == ["a", "c"]
    assert {item for item, _ in fused} == {"a", "b", "c", "d"}


def test_tokenizer_segments_chinese_and_stems_english() -> None:
    tokens = tokenize("九章数据的弱点 and pricing objections")
    assert "九章" in tokens and "弱点" in tokens and "的" not in tokens
    assert "pric" in tokens or "pricing" in tokens
    assert "objection" in tokens and "and" not in tokens


def test_a_lighter_ranker_cannot_outvote_the_heavier_one_on_a_single_item() -> None:
    # "x" is first for BM25 only, "y" first for dense only: with BM25 at half weight dense wins.
    fused = reciprocal_rank_fusion([["y", "z"], ["x", "z"]], k=10, weights=[1.0, 0.5])
    assert [item for item, _ in fused] == ["z", "y", "x"]  # found by both first, then dense's top


def test_fusion_rejects_a_weight_count_that_does_not_match() -> None:
    with pytest.raises(ValueError, match=r"argument 2 is shorter"):
        reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0])
