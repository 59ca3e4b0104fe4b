"""Tables in PDFs: a row keeps its label and figures on one line, and every chunk with figures
carries the column headings (the periods) they belong to.

The fixture is Apple's 10-Q for the quarter ended April 1, 2023 (see tests/fixtures/pdf/README.md).
"""

from pathlib import Path

import pytest
from fpdf import FPDF
from pypdf import PdfReader

from bot.core.settings import Settings
from knowledge_base import LoadedDocument, Section, load_document
from knowledge_base._chunking import chunk_sections

FILING = Path(__file__).resolve().parents[1] / "fixtures" / "pdf" / "2023 Q2 AAPL.pdf"
PERIODS = "Three Months Ended | Six Months Ended"
DATES = "April 1, 2023 | March 26, 2022 | April 1, 2023 | March 26, 2022"
TOTAL_NET_SALES = "Total net sales | 94,836 | 97,278 | 211,990 | 221,223"  # the statement of operations
SETTINGS = Settings(_env_file=None)


@pytest.fixture(scope="module")
def filing() -> LoadedDocument:
    return load_document(FILING, FILING.name)


def _lines(filing: LoadedDocument, page: int) -> list[str]:
    return next(s.text for s in filing.sections if s.heading == f"page {page}").splitlines()


def _body(text: str) -> list[str]:
    """A chunk's lines after its title and heading."""
    return text.split("\n")[2:]


def test_a_filing_with_only_an_owner_password_is_read(filing: LoadedDocument) -> None:
    assert PdfReader(FILING).is_encrypted
    assert len(filing.sections) >= 25


def test_a_statement_row_keeps_its_label_and_figures_under_its_headings(filing: LoadedDocument) -> None:
    lines = _lines(filing, 4)
    assert lines.index(PERIODS) < lines.index(DATES) < lines.index(TOTAL_NET_SALES)
    assert "Net income | $24,160 | $25,010 | $54,158 | $59,640" in lines
    assert "Basic | 15,787,154 | 16,278,802 | 15,839,939 | 16,335,263" in lines


def test_a_label_wrapped_over_lines_keeps_all_its_figures(filing: LoadedDocument) -> None:
    common_stock = next(line for line in _lines(filing, 6) if line.startswith("Common stock and additional"))
    assert common_stock.endswith("15,943,425 shares issued and outstanding, respectively | 69,568 | 64,849")


@pytest.mark.parametrize(("size", "overlap"), [(SETTINGS.chunk_size, SETTINGS.chunk_overlap), (300, 60)])
def test_chunks_with_the_row_carry_its_periods(filing: LoadedDocument, size: int, overlap: int) -> None:
    chunks = chunk_sections("Apple 10-Q", filing.sections, size, overlap)
    with_row = [c.text for c in chunks if TOTAL_NET_SALES in _body(c.text)]
    assert with_row
    assert all(PERIODS in _body(text) and DATES in _body(text) for text in with_row)


def test_a_table_cut_into_chunks_repeats_its_headings_and_no_row_is_cut(filing: LoadedDocument) -> None:
    page = next(s for s in filing.sections if s.heading == "page 4")
    chunks = chunk_sections("Apple 10-Q", [page], 300, 60)
    rows = [line for line in page.text.splitlines() if line.count(" | ") == 4 and line not in (PERIODS, DATES)]
    assert len(chunks) > 3
    for chunk in chunks:
        body = _body(chunk.text)
        assert all(line in page.text.splitlines() for line in body)  # whole lines only
        if any(line in rows for line in body):
            assert body.index(PERIODS) < body.index(DATES) < min(body.index(row) for row in rows if row in body)
        assert len("\n".join(body)) <= 300


def test_prose_is_whole_paragraphs_not_layout_lines(filing: LoadedDocument) -> None:
    sentence = (
        "Total net sales include $3.5 billion of revenue recognized in the three months ended April 1, 2023 "
        "that was included in deferred revenue as of December 31, 2022, $3.0 billion of revenue"
    )
    assert any(sentence in line for line in _lines(filing, 10))
    prose = [line for s in filing.sections for line in s.text.splitlines() if " | " not in line]
    one_word = [line for line in prose if len(line.split()) == 1]
    assert len(one_word) * 10 < len(prose)
    assert not [line for line in one_word if line[:1].islower()]  # no word left behind by a line break
    assert not [line for line in prose if "   " in line]  # layout padding is gone


def test_a_generated_pdf_joins_a_wrapped_label_to_its_row(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    pdf.text(120, 30, "October 29, 2023")
    pdf.text(160, 30, "October 30, 2022")
    for y, label in ((40, "Research and"), (44.5, "development"), (49, "expenses")):
        pdf.text(20, y, label)
    pdf.text(130, 49, "$ 2,294")
    pdf.text(170, 49, "$ 1,945")
    pdf.set_xy(20, 70)
    pdf.multi_cell(170, 5, "Spending grew with headcount and stock-based compensation in every quarter. " * 3)
    path = tmp_path / "opex.pdf"
    pdf.output(str(path))
    lines = load_document(path, path.name).text.splitlines()
    assert lines[:2] == ["October 29, 2023 | October 30, 2022", "Research and development expenses | $2,294 | $1,945"]
    assert lines[2] == " ".join(["Spending grew with headcount and stock-based compensation in every quarter."] * 3)


def test_a_markdown_table_repeats_its_header_in_every_chunk() -> None:
    header = ["| Plan | Seats | Price |", "|---|---|---|"]
    rows = [f"| Plan {i} | {i * 10} | $1,{i:03d} |" for i in range(30)]
    text = "\n".join(["Prices for the year:", *header, *rows, "Prices exclude VAT."])
    chunks = chunk_sections("Price list", [Section("Prices", text)], 200, 40)
    assert len(chunks) > 3
    for chunk in chunks:
        body = _body(chunk.text)
        assert all(line in text.splitlines() for line in body)
        if any(line in rows for line in body):
            assert body[:2] == header or body[1:3] == header
    assert all(any(row in _body(c.text) for c in chunks) for row in rows)


@pytest.mark.parametrize(
    ("metadata_title", "kept"),
    [
        ("0000320193-22-000070", None),  # an accession number: the file name says more
        ("04.01.2023 10Q Document", None),
        ("Battle Card: Northwind Analytics", "Battle Card: Northwind Analytics"),
        ("竞品作战卡：九章数据", "竞品作战卡：九章数据"),
    ],
)
def test_a_pdf_metadata_title_is_kept_only_when_it_reads_as_a_title(metadata_title: str, kept: str | None) -> None:
    from knowledge_base._loaders import _readable_title

    assert _readable_title(metadata_title) == kept


def test_running_page_footers_are_dropped_and_the_page_text_stays() -> None:
    from knowledge_base._loaders import _without_running_lines

    topics = ["revenue", "margins", "cash", "debt", "taxes", "risks"]
    pages = [
        f"About {topic}.\nThe {topic} discussion.\nAcme Inc. | Q2 2023 Form 10-Q | {n}"
        for n, topic in enumerate(topics)
    ]
    cleaned = _without_running_lines(pages)
    assert cleaned == [f"About {topic}.\nThe {topic} discussion." for topic in topics]
    assert "Form 10-Q |" not in load_document(FILING, FILING.name).text
