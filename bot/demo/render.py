"""Render the demo's Markdown knowledge sources as the real files trainers would upload
(Markdown, PDF, Word), so the knowledge base ingests every format the way it would in use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["KB_SOURCE_DIR", "KbSource", "read_source", "render"]

KB_SOURCE_DIR = Path(__file__).parent / "kb"
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)


@dataclass(frozen=True)
class KbSource:
    path: Path
    title: str
    kind: str
    language: str
    format: str
    body: str
    gap: str | None = None


def read_source(path: Path) -> KbSource:
    text = path.read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(text)
    if not match:
        raise ValueError(f"{path.name} has no front matter")
    meta = yaml.safe_load(match.group(1))
    return KbSource(
        path=path,
        title=str(meta["title"]),
        kind=str(meta["kind"]),
        language=str(meta["language"]),
        format=str(meta.get("format", "md")),
        body=text[match.end() :].strip() + "\n",
        gap=meta.get("gap"),
    )


def render(source: KbSource, out_dir: Path) -> Path:
    """Write the document in its declared format; returns the file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{source.path.stem}.{source.format}"
    if source.format == "md":
        # Markdown keeps its front matter, so metadata such as a lesson's gap type travels along.
        target.write_text(source.path.read_text(encoding="utf-8"), encoding="utf-8")
    elif source.format == "pdf":
        _pdf(source, target)
    elif source.format == "docx":
        _docx(source, target)
    else:
        raise ValueError(f"unknown format {source.format}")
    return target


def _blocks(body: str) -> list[tuple[str, str]]:
    """(style, text) blocks: heading levels, list items and paragraphs."""
    blocks: list[tuple[str, str]] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(("p", " ".join(paragraph)))
            paragraph.clear()

    for line in body.splitlines():
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("#"):
            flush()
            level = len(stripped) - len(stripped.lstrip("#"))
            blocks.append((f"h{min(level, 3)}", stripped.lstrip("#").strip()))
        elif re.match(r"^([-*+]|\d+[.)])\s+", stripped):
            flush()
            blocks.append(("li", re.sub(r"^([-*+]|\d+[.)])\s+", "", stripped)))
        elif stripped.startswith("|"):
            flush()
            if not set(stripped) <= set("|-: "):
                blocks.append(("li", " / ".join(c.strip() for c in stripped.strip("|").split("|"))))
        else:
            paragraph.append(stripped)
    flush()
    return blocks


def _plain(text: str) -> str:
    return re.sub(r"(\*\*|__|`)", "", text)


def _pdf(source: KbSource, target: Path) -> None:
    from fpdf import FPDF
    from matplotlib import font_manager

    # matplotlib ships DejaVu Sans, a Unicode TrueType font: no system font needed.
    font_path = font_manager.findfont("DejaVu Sans")
    pdf = FPDF()
    pdf.set_title(source.title)
    pdf.add_font("DejaVu", "", font_path)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("DejaVu", size=18)
    pdf.multi_cell(0, 9, source.title)
    pdf.ln(3)
    sizes = {"h1": 15, "h2": 13, "h3": 12, "p": 10.5, "li": 10.5}
    for style, text in _blocks(source.body):
        pdf.set_font("DejaVu", size=sizes[style])
        if style.startswith("h"):
            pdf.ln(2)
        pdf.multi_cell(0, 6, ("- " if style == "li" else "") + _plain(text))
        pdf.ln(1)
    pdf.output(str(target))


def _docx(source: KbSource, target: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = source.title
    document.add_heading(source.title, level=0)
    for style, text in _blocks(source.body):
        if style.startswith("h"):
            document.add_heading(_plain(text), level=int(style[1]))
        elif style == "li":
            document.add_paragraph(_plain(text), style="List Bullet")
        else:
            document.add_paragraph(_plain(text))
    document.save(str(target))
