"""Question-aware ranking on look-alike documents: real Chroma, the packaged embedder, SQLite.

Three quarterly reports of two made-up companies say nearly the same things in the same words,
as filings do; only their titles, file names and first lines tell them apart. Plain hybrid
search cannot, so the question's company and quarter must.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app import App
from bot.core.identity import Identity
from retrieval import Retriever
from retrieval.evaluation import EVAL_IDENTITY, evaluate_sources, load_sourced_questions

Who = Callable[[str], Identity]

REPORT = """# {company} quarterly report

{opening}

## Results of operations

Total revenue was {revenue} million dollars for the quarter, driven by shipments of warehouse
robots and by service contracts. Gross margin was {margin} percent. Operating expenses grew
because of research and development headcount.

## Liquidity

Cash and cash equivalents were {cash} million dollars at the end of the quarter. The company
repurchased shares and paid no dividend.
"""

REPORTS = {
    # The period in the opening, stated the way filings state it.
    "acme-robotics-q1.md": {
        "company": "Acme Robotics",
        "opening": "Acme Robotics Inc. For the quarterly period ended March 31, 2024. Total revenue rose in 2024.",
        "revenue": "41.2",
        "margin": "38.5",
        "cash": "120",
    },
    # The period in the file name only.
    "2024 Q2 acme robotics.md": {
        "company": "Acme Robotics",
        "opening": "Acme Robotics Inc.",
        "revenue": "47.9",
        "margin": "40.1",
        "cash": "131",
    },
    "2024 Q2 kestrel foods.md": {
        "company": "Kestrel Foods",
        "opening": "Kestrel Foods Corp. Total revenue for the quarter, 2024.",
        "revenue": "18.3",
        "margin": "22.7",
        "cash": "45",
    },
}


@pytest.fixture
def reports(org_app: App, identity_of: Who, tmp_path: Path) -> dict[str, int]:
    """The three reports, by file name -> document id."""
    folder = tmp_path / "reports"
    folder.mkdir()
    for name, fields in REPORTS.items():
        (folder / name).write_text(REPORT.format(**fields), encoding="utf-8")
    admin = identity_of("ops.admin")
    assert not org_app.knowledge.add_paths(admin, [folder]).failed
    return {Path(d.source_path).name: d.id for d in org_app.knowledge.list_documents(admin)}


def _plain(app: App) -> Retriever:
    """The same index ranked as plain hybrid search (no question-aware prior)."""
    settings = app.settings.model_copy(update={"retrieval_name_weight": 0.0, "retrieval_period_weight": 0.0})
    return Retriever(settings, app.db.session, embedder=app.retriever.embedder)


def _first_document(retriever: Retriever, who: Identity, question: str) -> int:
    return retriever.search(who, question, k=5)[0].doc_id


def test_a_question_naming_a_company_and_a_quarter_ranks_that_report_first(
    org_app: App, identity_of: Who, reports: dict[str, int]
) -> None:
    admin = identity_of("ops.admin")
    question = "What was Acme Robotics' total revenue in Q2 2024?"
    assert _first_document(_plain(org_app), admin, question) != reports["2024 Q2 acme robotics.md"]
    hits = org_app.retriever.search(admin, question, k=5)
    assert hits[0].doc_id == reports["2024 Q2 acme robotics.md"] and "47.9" in hits[0].text


def test_periods_and_names_pick_the_report(org_app: App, identity_of: Who, reports: dict[str, int]) -> None:
    admin = identity_of("ops.admin")
    for question, expected in [
        ("How much cash did Acme Robotics hold in the first quarter of 2024?", "acme-robotics-q1.md"),
        ("What was the gross margin of Acme Robotics in the most recent quarter?", "2024 Q2 acme robotics.md"),
        ("Did Kestrel Foods repurchase shares in Q2 2024?", "2024 Q2 kestrel foods.md"),
        ("Acme Robotics 2024年第二季度的毛利率是多少？", "2024 Q2 acme robotics.md"),
    ]:
        assert _first_document(org_app.retriever, admin, question) == reports[expected], question


def test_a_question_naming_nothing_ranks_as_plain_hybrid_search(
    org_app: App, identity_of: Who, reports: dict[str, int]
) -> None:
    admin = identity_of("ops.admin")
    for question in ("why did operating expenses grow?", "How are warehouse robots and service contracts doing?"):
        aware = [(h.chunk_id, h.score) for h in org_app.retriever.search(admin, question, k=10)]
        plain = [(h.chunk_id, h.score) for h in _plain(org_app).search(admin, question, k=10)]
        assert aware == plain and aware


def test_the_folder_evaluation_scores_source_documents_per_split_and_type(
    org_app: App, identity_of: Who, reports: dict[str, int], tmp_path: Path
) -> None:
    questions_file = tmp_path / "questions.csv"
    questions_file.write_text(
        "Question,Source Docs,Question Type\n"
        "What was Acme Robotics' total revenue in Q2 2024?,*2024 Q2 acme*,single\n"
        "How much cash did Acme Robotics hold in the first quarter of 2024?,*acme-robotics-q1*,single\n"
        '"How did Acme Robotics\' revenue change, quarter to quarter?",*acme*,multi\n'
        "What does the Kestrel Foods report say about dividends?,*kestrel*; *nothing*,single\n",
        encoding="utf-8",
    )
    questions = load_sourced_questions(questions_file)
    assert [q.kind for q in questions] == ["single", "single", "multi", "single"]
    assert questions[3].sources == ("*kestrel*", "*nothing*") and questions[3].answered_by("2024 Q2 Kestrel Foods.md")
    report = evaluate_sources(org_app.retriever, identity_of(EVAL_IDENTITY), questions)
    assert report.overall.questions == 4 and report.overall.hit_at_1 == 1.0 and report.overall.mrr == 1.0
    assert set(report.by_kind) == {"single", "multi"} and set(report.by_split) <= {"dev", "test"}
    assert sum(s.questions for s in report.by_split.values()) == 4
    assert 0 < report.latency_p50_ms <= report.latency_p95_ms and report.misses == ()


def test_questions_load_from_yaml_and_split_by_their_hash(tmp_path: Path) -> None:
    questions_file = tmp_path / "questions.yaml"
    questions_file.write_text(
        "questions:\n"
        "  - {q: 'Orbit revenue in Q1 2024?', sources: ['*2024 Q1 ORBT*'], type: single}\n"
        "  - {q: 'Orbit cash at the end of 2023?', sources: '*ORBT*'}\n"
        "  - {q: 'A question without sources'}\n",
        encoding="utf-8",
    )
    questions = load_sourced_questions(questions_file)
    assert [(q.sources, q.kind) for q in questions] == [(("*2024 Q1 ORBT*",), "single"), (("*ORBT*",), "all")]
    assert questions[0].answered_by("2024 q1 orbt.pdf") and not questions[0].answered_by("2024 Q2 ORBT.pdf")
    # Their SHA-1s start with "b" (odd: test) and "0" (even: dev).
    assert [q.split for q in questions] == ["test", "dev"]
