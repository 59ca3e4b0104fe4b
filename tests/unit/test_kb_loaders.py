from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from bot.core.errors import InvalidInput, UnsupportedMedia
from knowledge_base import load_document


def _pdf(path: Path, text: str) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    pdf.output(str(path))


def test_markdown_front_matter_and_heading_path(tmp_path: Path) -> None:
    path = tmp_path / "lesson.md"
    path.write_text(
        "---\ntitle: Budget lesson\nkind: lesson\ngap: budget_unclarified\n---\n"
        "# Budget lesson\n\n## Why\nBecause.\n### Drill\nPractise.\n",
        encoding="utf-8",
    )
    document = load_document(path, path.name)
    assert document.title == "Budget lesson" and document.meta["gap"] == "budget_unclarified"
    assert [(s.heading, s.text) for s in document.sections] == [("Why", "Because."), ("Why > Drill", "Practise.")]


def test_gb18030_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("客户预算两百万元".encode("gb18030"))
    assert "两百万元" in load_document(path, path.name).text


def test_docx_headings_become_sections(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Battle card", level=0)
    document.add_heading("Weaknesses", level=1)
    document.add_paragraph("No data residency in China.")
    path = tmp_path / "card.docx"
    document.save(str(path))
    loaded = load_document(path, path.name)
    assert loaded.title == "Battle card"
    assert [(s.heading, s.text) for s in loaded.sections] == [("Weaknesses", "No data residency in China.")]


def test_pdf_text_by_page(tmp_path: Path) -> None:
    path = tmp_path / "roi.pdf"
    _pdf(path, "ROI = (benefit - cost) / cost. Payback in 9 months.")
    loaded = load_document(path, path.name)
    assert "Payback in 9 months" in loaded.text and loaded.sections[0].heading == "page 1"


def test_encrypted_pdf_is_refused_with_a_reason(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pdf"
    _pdf(plain, "secret pricing")
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt("pw")
    locked = tmp_path / "locked.pdf"
    with locked.open("wb") as handle:
        writer.write(handle)
    with pytest.raises(InvalidInput, match="password"):
        load_document(locked, locked.name)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4 garbage that is not a pdf", "not a readable PDF"),
        ("broken.docx", b"PK\x03\x04 not really a zip", "not a readable Word"),
        ("blob.txt", b"\x00\x01\x02binary\x00", "binary"),
        ("blank.md", b"   \n\n", "empty"),
        ("only-script.html", b"<html><script>alert(1)</script></html>", "no readable text"),
        ("header-only.csv", b"date,account,text\n", "no rows"),
    ],
)
def test_bad_documents_get_a_clear_error(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=reason):
        load_document(path, name)


def test_unsupported_type(tmp_path: Path) -> None:
    path = tmp_path / "deck.pptx"
    path.write_bytes(b"PK")
    with pytest.raises(UnsupportedMedia, match="not a supported document type"):
        load_document(path, path.name)


def test_html_keeps_content_and_drops_scripts(tmp_path: Path) -> None:
    html = (
        "<html><head><title>ISV FAQ</title><script>steal()</script></head><body><nav>Home | Login</nav>"
        "<article><h1>ISV FAQ</h1><p>Gold partners get a 25% margin on every joint deal they register with us.</p>"
        "<p>Registration protects the deal for 90 days, and partners receive a joint demo checklist.</p>"
        "</article></body></html>"
    )
    path = tmp_path / "faq.html"
    path.write_text(html, encoding="utf-8")
    loaded = load_document(path, path.name)
    assert "25% margin" in loaded.text and "steal()" not in loaded.text


def test_csv_rows_become_history_entries(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text(
        "date,account,entry_type,author,subject,text\n"
        "2026-09-01,Ridgeline Freight,email,Karen,Budget,Budget is $120k; CFO signs above $100k.\n"
        "2026-09-09,Ridgeline Freight,meeting_note,Jason,Next step,Exec review on 2026-09-23.\n",
        encoding="utf-8",
    )
    loaded = load_document(path, path.name)
    assert loaded.meta["account"] == "Ridgeline Freight"
    assert [s.heading for s in loaded.sections] == [
        "2026-09-01 email Budget (Karen)",
        "2026-09-09 meeting_note Next step (Jason)",
    ]
