import docx
from pypdf import PdfReader

from bot.demo.render import KbSource, render


def _source(tmp_path, fmt: str, language: str = "en") -> KbSource:
    return KbSource(
        path=tmp_path / "price-talk-tracks.md",
        title="Price objection talk tracks" if language == "en" else "价格异议应对话术",
        kind="playbook",
        language=language,
        format=fmt,
        body="## Probe first\nAsk: compared with what?\n\n- Reframe on value — never discount first\n- Anchor on ROI\n",
    )


def test_pdf_keeps_headings_and_unicode(tmp_path) -> None:
    path = render(_source(tmp_path, "pdf"), tmp_path / "out")
    text = "".join(page.extract_text() for page in PdfReader(path).pages)
    assert "Probe first" in text and "compared with what?" in text and "never discount first" in text


def test_docx_has_real_headings_and_bullets(tmp_path) -> None:
    path = render(_source(tmp_path, "docx", "zh"), tmp_path / "out")
    document = docx.Document(str(path))
    styles = {(p.style.name, p.text) for p in document.paragraphs}
    assert ("Title", "价格异议应对话术") in styles
    assert ("Heading 2", "Probe first") in styles
    assert ("List Bullet", "Anchor on ROI") in styles


def test_markdown_gets_its_title(tmp_path) -> None:
    path = render(_source(tmp_path, "md"), tmp_path / "out")
    assert path.read_text(encoding="utf-8").startswith("# Price objection talk tracks\n")
