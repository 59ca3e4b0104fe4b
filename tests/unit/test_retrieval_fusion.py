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
