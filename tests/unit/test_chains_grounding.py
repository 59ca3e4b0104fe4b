"""The grounding check and the evidence step: the two guards between a draft and a reader."""

from __future__ import annotations

import pytest

from chains.evidence import gather_evidence, split_units
from chains.grounding import check_grounding, normalise
from retrieval import SearchHit

PASSAGES = {
    1: "Product revenue was $555.3 million, an increase of 84% year-over-year, for the three months ended April 30.",
    2: "Net revenue retention rate was 165% as of April 30. Cash and investments totalled $4.9 billion.",
}


def _hit(doc_id: int, text: str, title: str = "Quarterly report") -> SearchHit:
    return SearchHit(
        doc_id=doc_id,
        chunk_id=f"c{doc_id}",
        title=title,
        source=f"doc{doc_id}.txt",
        kind="playbook",
        language="en",
        account_id=None,
        text=text,
        score=1.0,
    )


def test_a_draft_whose_figures_its_citations_hold_passes() -> None:
    grounding = check_grounding("Product revenue grew 84% to $555.3 million [1].", PASSAGES)
    assert grounding.ok and grounding.cited == (1,) and grounding.claims == 2


@pytest.mark.parametrize(
    ("draft", "unsupported"),
    [
        ("Product revenue grew 67% [1].", "67"),  # another quarter's figure
        ("Net revenue retention was 80% [2].", "80"),
        ("The lease expires in 2031 [1].", "2031"),  # invented date
        ("Product gross margin was 75% [1].", "75"),
    ],
)
def test_a_figure_its_citations_do_not_hold_is_unsupported(draft: str, unsupported: str) -> None:
    grounding = check_grounding(draft, PASSAGES)
    assert not grounding.ok and unsupported in grounding.unsupported


@pytest.mark.parametrize(
    ("draft", "recited"),
    [
        ("Product revenue grew 84% [2].", "Product revenue grew 84% [1]."),  # the passage that holds it
        ("Revenue grew 84% [3].", "Revenue grew 84% [1]."),  # [3] was never shown
        ("Retention was 165% and revenue grew 84%.", "Retention was 165% and revenue grew 84% [2][1]."),
        ("See the filing [2].\n- Cash: $4.9 billion", "See the filing [2].\n- Cash: $4.9 billion [2]"),
    ],
)
def test_each_sentence_is_recited_with_the_sources_that_hold_its_claims(draft: str, recited: str) -> None:
    grounding = check_grounding(draft, PASSAGES)
    assert grounding.ok and grounding.text == recited


def test_a_figure_must_match_a_whole_number_not_part_of_one() -> None:
    assert not check_grounding("It was 55 [1].", PASSAGES).ok  # 55 is only inside 555.3
    assert not check_grounding("Retention was 16% [2].", PASSAGES).ok


def test_names_must_be_in_the_sources_but_a_sentence_start_is_not_a_name() -> None:
    assert check_grounding("Revenue rose 84% [1].", PASSAGES).ok
    grounding = check_grounding("Revenue rose 84% thanks to Snowpark adoption [1].", PASSAGES)
    assert grounding.unsupported == ("Snowpark",)


def test_an_uncited_sentence_leans_on_the_drafts_citations_and_facts_and_question_count() -> None:
    assert check_grounding("Cash totalled $4.9 billion. That is from the filing [2].", PASSAGES).ok
    assert check_grounding("You have 12 open deals.", {}, facts="Open deals: 12").ok
    assert check_grounding("In Q1 2023 the figure was 84% [1].", PASSAGES, question="What grew in Q1 2023?").ok
    assert not check_grounding("You have 13 open deals.", {}, facts="Open deals: 12").ok


def test_normalise_ignores_thousands_separators_width_and_case() -> None:
    assert normalise("Total Net Sales  81,797") == normalise("total net sales 81797")
    assert normalise("８４％") == "84%"


def test_a_table_row_keeps_its_header_line() -> None:
    passage = (
        "CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS\n"
        "Three Months Ended | July 1, 2023 | June 25, 2022\n"
        "Total net sales | 81,797 | 82,959\n"
        "Cost of sales | 45,384 | 47,074"
    )
    units = split_units(passage)
    row = next(u for u in units if "Total net sales" in u)
    assert "July 1, 2023" in row and "Cost of sales" not in row


def test_long_prose_is_cut_into_sentences() -> None:
    sentence = "The company expects product gross margin of 74.5% for the next quarter. "
    units = split_units(sentence * 10)
    assert len(units) >= 2 and all(len(u) <= 420 for u in units)


def test_evidence_prefers_the_sentence_with_the_questions_terms() -> None:
    hits = [
        _hit(1, "Our offices are in Montana. Product revenue grew 67% in the prior year quarter."),
        _hit(2, "Net revenue retention rate was 165% as of April 30, 2023. Headcount grew."),
    ]
    units = gather_evidence("What was the net revenue retention rate?", hits, None, limit=2)
    assert "165%" in units[0].text and units[0].lexical > units[1].lexical


def test_evidence_for_a_question_the_passages_do_not_touch_is_weak() -> None:
    hits = [_hit(1, "Product revenue grew 67% in the prior year quarter.")]
    weak = gather_evidence("When does the headquarters lease expire?", hits, None, limit=1)
    strong = gather_evidence("How much did product revenue grow?", hits, None, limit=1)
    assert weak[0].lexical < 0.3 <= strong[0].lexical
