import docx
from pypdf import PdfReader

from bot.demo.render import KbSource, read_source, render


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


def test_markdown_keeps_its_front_matter(tmp_path) -> None:
    source = tmp_path / "lesson-budget_unclarified-en.md"
    source.write_text(
        "---\ntitle: Budget lesson\nkind: lesson\nlanguage: en\ngap: budget_unclarified\n---\n\n## Why\nBecause.\n"
    )
    path = render(read_source(source), tmp_path / "out")
    assert "gap: budget_unclarified" in path.read_text(encoding="utf-8")
