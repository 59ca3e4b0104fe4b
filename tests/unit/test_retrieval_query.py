"""Question analysis (periods and names, English and Chinese) and the document prior it gives."""

from __future__ import annotations

import pytest

from retrieval._fusion import add_document_prior, rerank
from retrieval._query import DocumentProfile, Period, Question, analyse, document_prior


@pytest.mark.parametrize(
    ("question", "periods"),
    [
        ("How did operating expenses for Q1 2023 compare to revenue?", [Period(2023, 1)]),
        ("Revenue in 2023 Q1", [Period(2023, 1)]),
        ("In the first quarter of 2023, what drove net income?", [Period(2023, 1)]),
        ("Results for the third quarter of fiscal 2023", [Period(2023, 3)]),
        ("What was the tax rate in Q2, 2023?", [Period(2023, 2)]),
        ("Margins in Q3'23 and 1Q24", [Period(2023, 3), Period(2024, 1)]),
        ("Compare Q1 and Q2 2023", [Period(2023, 1), Period(2023, 2)]),
        ("Q3 2023 compared with Q3 2022", [Period(2023, 3), Period(2022, 3)]),
        ("What guidance was given for fiscal 2023?", [Period(2023)]),
        ("Capital spending in FY2023 versus FY22", [Period(2023), Period(2022)]),
        ("What does the Q4 report say?", [Period(None, 4)]),
        ("2023年第一季度的净销售额是多少？", [Period(2023, 1)]),
        ("2023财年第三季度研发支出", [Period(2023, 3)]),
        ("2023年第一季度和第二季度的毛利率", [Period(2023, 1), Period(2023, 2)]),
        ("2022年度的财报", [Period(2022)]),
    ],
)
def test_periods_are_read_in_english_and_chinese(question: str, periods: list[Period]) -> None:
    assert list(analyse(question).periods) == periods


@pytest.mark.parametrize(
    "question",
    [
        "What was the gross margin in the most recent 10-Q?",
        "In the latest quarter, what were the sales figures?",
        "How did revenue develop last quarter?",
        "最近一个季度的数据中心收入是多少？",
        "最新的季度报告里毛利率是多少？",
    ],
)
def test_asking_for_the_latest_period_is_recognised(question: str) -> None:
    assert analyse(question).latest


def test_neither_a_plural_nor_a_date_nor_a_code_is_a_period() -> None:
    question = analyse("How did inventory change over the reported quarters? Form 10-Q filed 10/24/2022, item 1A.")
    assert question.periods == () and not question.latest


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("How did Apple's operating expenses for Q1 2023 compare to its revenue?", ("apple",)),
        ("What was NVIDIA's gross margin?", ("nvidia",)),
        ("NVDA revenue by segment?", ("nvda",)),  # all capitals: a ticker even at the start
        ("How has revenue from iPhone sales fluctuated?", ("iphone",)),
        ("Summarize the risk factors to Amazon's business.", ("amazon",)),  # "Summarize" is grammar
        ("What does the partner guide say about Harborview Supply?", ("harborview", "supply")),
        ("苹果公司2023年第一季度的净销售额是多少？", ("苹果",)),  # the name before its legal form
        ("华为和腾讯的云业务收入", ("华为", "腾讯")),
        ("Northwind 的自然语言查询支持中文吗？", ("northwind", "中文")),  # any Latin word in Chinese
    ],
)
def test_names_are_capitalised_words_tickers_and_chinese_proper_nouns(question: str, names: tuple[str, ...]) -> None:
    assert analyse(question).names == names


@pytest.mark.parametrize(
    "question",
    [
        "How should I respond when a customer says we are too expensive?",
        "What discount can a sales manager approve?",
    ],
)
def test_a_question_about_a_topic_names_nothing(question: str) -> None:
    assert analyse(question).names_nothing


def test_a_word_the_chinese_tagger_takes_for_a_name_counts_only_if_a_document_holds_it() -> None:
    # jieba tags 太贵 ("too expensive") as a person's name; no document is called that.
    profiles = {
        1: DocumentProfile.of("价格异议应对", "price.md", ""),
        2: DocumentProfile.of("续约流程", "renewal.md", ""),
    }
    question = analyse("客户说价格太贵，该怎么回应？")
    assert question.names == ("太贵",)
    assert document_prior(question, profiles, name_weight=0.06, period_weight=0.1) == {}


def test_a_profile_takes_the_period_from_the_file_name_before_the_cover_page() -> None:
    cover = (
        "UNITED STATES SECURITIES AND EXCHANGE COMMISSION FORM 10-Q For the quarterly period ended July 1, "
        "2023 Commission File Number: 001-36743 Apple Inc. (Exact name of Registrant as specified in its charter)"
    )
    profile = DocumentProfile.of("0000320193-23-000077", "/filings/2023 Q3 AAPL.pdf", cover)
    assert profile.periods == {Period(2023, 3)}
    assert profile.names("apple") and profile.names("aapl")
    assert not profile.names("commission") and not profile.names("securities")  # the cover's other capitals


@pytest.mark.parametrize(
    ("opening", "period"),
    [
        ("Orbit Labs Ltd. Quarterly report for the quarterly period ended June 25, 2022.", Period(2022, 2)),
        ("For the three months ended December 31, 2022 (unaudited)", Period(2022, 4)),
        ("For the fiscal year ended September 30, 2023", Period(2023)),
        ("Orbit Labs results, Q3 2024. Revenue grew in every region.", Period(2024, 3)),
        ("星河科技有限公司 截至2023年9月30日止三个月的经营情况", Period(2023, 3)),
    ],
)
def test_without_a_period_in_its_label_a_profile_reads_the_opening(opening: str, period: Period) -> None:
    assert DocumentProfile.of("Quarterly report", "slack:report.md", opening).periods == {period}


def test_a_profile_names_the_organisation_its_opening_names_not_every_capitalised_word() -> None:
    profile = DocumentProfile.of("Quarterly report", "report.md", "AMAZON.COM, INC. reports sales in China and Europe.")
    assert profile.names("amazon") and not profile.names("china")
    chinese = DocumentProfile.of("客户案例", "case.md", "本案例中的企业为宁波甬驰汽车零部件有限公司，位于华东。")
    assert chinese.names("甬驰") and not chinese.names("华东")


def _filings() -> dict[int, DocumentProfile]:
    def filing(label: str, registrant: str) -> DocumentProfile:
        return DocumentProfile.of(label, f"/filings/{label}.pdf", f"Quarterly report. {registrant} (Registrant)")

    return {
        1: filing("2023 Q1 ORBT", "Orbit Labs Inc."),
        2: filing("2023 Q2 ORBT", "Orbit Labs Inc."),
        3: filing("2023 Q3 ORBT", "Orbit Labs Inc."),
        4: filing("2023 Q2 KSTL", "Kestrel Foods Corp."),
        5: filing("2023 Q3 KSTL", "Kestrel Foods Corp."),
    }


def test_the_prior_favours_the_named_company_at_the_named_period() -> None:
    prior = document_prior(
        analyse("What was Orbit's revenue in Q2 2023?"), _filings(), name_weight=0.06, period_weight=0.1
    )
    assert max(prior, key=lambda doc_id: prior[doc_id]) == 2
    assert prior[1] < 0 and prior[3] < 0  # the same company's other quarters
    assert 4 not in prior and 5 not in prior  # another company: neither named nor of its period


def test_most_recent_means_the_latest_period_of_the_named_company() -> None:
    prior = document_prior(
        analyse("Kestrel Foods' gross margin in the most recent 10-Q?"), _filings(), name_weight=0.06, period_weight=0.1
    )
    assert max(prior, key=lambda doc_id: prior[doc_id]) == 5 and prior[4] < prior[5]


def test_a_name_every_document_holds_says_nothing() -> None:
    profiles = {1: DocumentProfile.of("Acme pricing", "a.md", ""), 2: DocumentProfile.of("Acme renewals", "b.md", "")}
    assert document_prior(analyse("What does Acme charge?"), profiles, name_weight=0.06, period_weight=0.1) == {}


def test_a_question_naming_nothing_leaves_the_ranking_as_it_was() -> None:
    question = analyse("How do I handle a price objection?")
    assert question == Question()
    assert document_prior(question, _filings(), name_weight=0.06, period_weight=0.1) == {}
    fused = [("b", 0.2), ("a", 0.1)]
    assert add_document_prior(fused, {"a": 1, "b": 2}, {}) == fused


def test_the_prior_reorders_fused_items_and_survives_a_rerank() -> None:
    fused = [("a", 0.09), ("b", 0.08), ("c", 0.05)]
    documents = {"a": 1, "b": 2, "c": 3}
    assert [item for item, _ in add_document_prior(fused, documents, {2: 0.05})] == ["b", "a", "c"]
    # The second stage agrees with the first on "a"; the prior it cannot see still lifts "b".
    reranked = rerank(fused, {"a": 0.9, "b": 0.5}, k=10, document_of=documents, prior={2: 0.1})
    assert [item for item, _ in reranked] == ["b", "a", "c"]
