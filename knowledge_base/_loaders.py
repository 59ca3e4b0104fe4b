"""Turn a file into text with structure, using well-kept libraries per format.

Every loader returns a `LoadedDocument` whose `sections` keep the heading path, so chunks can
say where they come from. Bad input raises `InvalidInput` naming the file and the reason.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from bot.core.errors import InvalidInput, UnsupportedMedia

__all__ = ["SUPPORTED_SUFFIXES", "LoadedDocument", "Section", "is_figure", "load_document"]

SUPPORTED_SUFFIXES = {
    ".md": "md",
    ".markdown": "md",
    ".txt": "txt",
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
}
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")


@dataclass(frozen=True)
class Section:
    heading: str  # "Objections > Price" style path, may be empty
    text: str


@dataclass
class LoadedDocument:
    format: str
    title: str | None
    sections: list[Section]
    meta: dict[str, object] = field(default_factory=dict)  # front matter, csv account, ...

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.sections)


def load_document(path: Path, filename: str) -> LoadedDocument:
    suffix = Path(filename).suffix.lower()
    fmt = SUPPORTED_SUFFIXES.get(suffix)
    if fmt is None:
        supported = ", ".join(sorted(set(SUPPORTED_SUFFIXES.values())))
        raise UnsupportedMedia(f"'{filename}' is not a supported document type (use {supported}).")
    data = path.read_bytes()
    if not data.strip():
        raise InvalidInput(f"'{filename}' is empty.")
    loader = {"md": _markdown, "txt": _text, "pdf": _pdf, "docx": _docx, "html": _html, "csv": _csv}[fmt]
    document = loader(data, filename)
    if not document.text.strip():
        raise InvalidInput(f"'{filename}' has no readable text (is it a scan or an empty template?).")
    return document


def _decode(data: bytes, filename: str) -> str:
    if b"\x00" in data[:8192]:
        raise InvalidInput(f"'{filename}' looks like a binary file, not text.")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput(f"'{filename}' is not UTF-8 or GB18030 text.")


def _markdown_sections(text: str) -> tuple[str | None, list[Section]]:
    title: str | None = None
    path: list[str] = []
    sections: list[Section] = []
    buffer: list[str] = []

    def flush() -> None:
        body = "\n".join(buffer).strip()
        if body:
            sections.append(Section(" > ".join(path), body))
        buffer.clear()

    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            flush()
            level, heading = len(match.group(1)), match.group(2).strip("# ").strip()
            if level == 1 and (title is None or heading == title):
                title = heading
                path = []
                continue
            path = [*path[: max(level - 2, 0)], heading]
        else:
            buffer.append(line)
    flush()
    return title, sections


def _markdown(data: bytes, filename: str) -> LoadedDocument:
    text = _decode(data, filename)
    meta: dict[str, object] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            raise InvalidInput(f"'{filename}' has a malformed front matter block.") from exc
        meta = loaded if isinstance(loaded, dict) else {}
        text = text[match.end() :]
    title, sections = _markdown_sections(text)
    return LoadedDocument("md", str(meta.get("title") or title or "") or None, sections, meta)


def _text(data: bytes, filename: str) -> LoadedDocument:
    text = _decode(data, filename)
    first = next((line.strip() for line in text.splitlines() if line.strip()), None)
    return LoadedDocument("txt", first[:120] if first else None, [Section("", text.strip())])


# Real filings hold arrays longer than pypdf's default guard (100,000 elements: the Microsoft
# 10-Qs reach 110,000); a larger, still bounded limit reads them.
_PDF_ARRAY_LIMIT = 1_000_000
# pypdf's layout mode places text by padding it with spaces: a run of two or more separates
# table cells; in prose it is only justification.
_GAP = re.compile(r"\s{2,}")
_SPACES = re.compile(r"\s+")
# Stacked heading cells ("July 1," over "2023") come out glued: "July 1,2023".
_GLUED_DATE = re.compile(r"\b((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}),(\d{4})\b")
# ...and so do stacked words in column headings ("Current" over "Marketable").
_GLUED_WORDS = re.compile(r"(?<=[a-z]{3})(?=[A-Z][a-z])")
_SWALLOWED_FIGURE = re.compile(r"(?<=[a-z])\$?\(?\d{1,3}(?:,\d{3})+\)?$")
_GLUED_NUMBER = re.compile(r"(?<=\d)(?=[a-z]{3,})")  # "16,095,378and"
_GLUED_SYMBOL = re.compile(r"^([A-Za-z]+)([$%])$")  # "$" over "Change" comes out "Change$"
# A "$", "%" or ")" printed in its own column belongs to the figure beside it.
_CURRENCIES = frozenset("$€£¥")
_CURRENCY_GAP = re.compile(r"([$€£¥])\s+(?=[\d(.—–-])")
_PERCENT_GAP = re.compile(r"(?<=[\d)—–-])\s+%")
_FIGURE = re.compile(
    r"[$€£¥]?\(?[$€£¥]?(?:-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+|[—–-]{1,2})\)?%?\*?|\((?:\d+|[a-z])\)|NM|N/?A|n/?a|\*"
)
# Justified prose padded between words has "cells" like these; column headings do not.
_PROSE_WORDS = frozenset(
    ("a", "an", "and", "as", "at", "by", "for", "from", "in", "including", "of", "on", "or", "the", "to", "with")
)
_HEADING_CELL_MAX = 50  # longer "cells" are justified prose, not column headings
_LABEL_PIECE_MAX = 50  # a label wrapped over lines comes in short pieces
_FULL_LINE = 0.8  # a prose line this close to the page's widest line runs on into the next,
_FULL_LINE_WORDS = 8  # unless it is a heading of a few words
_BULLETS = ("•", "●", "▪", "◦", "-", "–", "—")
_HYPHENATED = re.compile(r"[A-Za-z]-$")  # "six-" at a line's end goes on "month"


def is_figure(cell: str) -> bool:
    """A table figure: an amount, a percentage, a dash for nil, a footnote mark or "n/a"."""
    return _FIGURE.fullmatch(cell) is not None


@dataclass
class _PdfLine:
    kind: Literal["row", "heading", "text"]  # a label and its figures, column headings, or prose
    cells: list[str]
    width: int  # how far the line reaches across the page, in layout-mode characters
    follows_gap: bool  # a blank line comes before it

    @property
    def text(self) -> str:
        return " | ".join(self.cells)


def _pdf_line(raw: str, follows_gap: bool) -> _PdfLine:
    line = _GLUED_DATE.sub(r"\1, \2", raw.rstrip())
    cells = [_PERCENT_GAP.sub("%", _CURRENCY_GAP.sub(r"\1", cell)) for cell in _GAP.split(line.strip())]
    merged: list[str] = []
    for cell in cells:
        if merged and (merged[-1] in _CURRENCIES or cell in ("%", ")")):
            merged[-1] += cell
        else:
            merged.append(cell)
    width = len(line)
    figures = sum(is_figure(cell) for cell in merged[1:])
    # Justified prose is padded between words too: its "cells" are mostly words, not figures.
    if figures and figures >= len(merged) - 1 - figures:
        # A wrapped label can swallow the first figure: "outstanding, respectively62,115".
        label, *rest = merged
        swallowed = _SWALLOWED_FIGURE.search(label)
        if swallowed:
            label, rest = label[: swallowed.start()], [swallowed.group(), *rest]
        return _PdfLine("row", [_GLUED_NUMBER.sub(" ", label), *rest], width, follows_gap)
    if (
        len(merged) > 1
        and max(len(cell) for cell in merged) <= _HEADING_CELL_MAX
        and sum(cell[:1].islower() for cell in merged) * 2 < len(merged)
        and not any(cell in _PROSE_WORDS for cell in merged)
    ):
        cells = [_GLUED_SYMBOL.sub(r"\2 \1", _GLUED_WORDS.sub(" ", cell)) for cell in merged]
        return _PdfLine("heading", cells, width, follows_gap)
    return _PdfLine("text", [_SPACES.sub(" ", line.strip())], width, follows_gap)


def _continues(piece: _PdfLine, nxt: _PdfLine) -> bool:
    """A short text line that is the first part of the label on the next line ("Research and"
    over "development expenses | 2,294 | ...")."""
    first = nxt.cells[0]
    return (
        piece.kind == "text"
        and not nxt.follows_gap
        and nxt.kind in ("row", "text")
        and len(piece.cells[0]) <= _LABEL_PIECE_MAX
        and not piece.cells[0].endswith((":", "."))
        and first[:1].islower()
        and (nxt.kind == "row" or len(first) <= _LABEL_PIECE_MAX)
    )


def _ends_label(row: _PdfLine, line: _PdfLine) -> bool:
    """The end of a wrapped label, printed under its row ("Total operating" over "expenses")."""
    text = line.cells[0]
    return row.kind == "row" and line.kind == "text" and len(text) <= _LABEL_PIECE_MAX and text[:1].islower()


def _title_like(text: str) -> bool:
    words = text.split()
    return len(words) < _FULL_LINE_WORDS and all(w[:1].isupper() or w in _PROSE_WORDS for w in words)


def _runs_on(last: _PdfLine, line: _PdfLine, widest: int) -> bool:
    """Whether prose `line` goes on with the paragraph whose last printed line is `last`:
    layout mode keeps the page's line breaks, which fall inside sentences."""
    text, tail = line.cells[0], last.cells[0]
    if last.kind != "text" or line.kind != "text" or text.startswith(_BULLETS):
        return False
    if text[:1].islower():
        return True
    full = last.width >= _FULL_LINE * widest and len(tail.split()) >= _FULL_LINE_WORDS
    # A short capitalised line after a finished sentence is a heading, not more of the paragraph.
    return full and not (tail.endswith((".", ":", "!", "?")) and _title_like(text))


def _pdf_page_text(layout: str) -> str:
    """One page of layout-mode text as lines: a table row with its label and figures
    (`Total net sales | 81,797 | 82,959`), column headings, or a whole prose paragraph."""
    lines: list[_PdfLine] = []
    gap = False
    for raw in layout.splitlines():
        if not raw.strip():
            gap = True
            continue
        lines.append(_pdf_line(raw, gap))
        gap = False
    # Labels wrapped over several lines: join the pieces to the row they name.
    joined: list[_PdfLine] = []
    for line in reversed(lines):
        if joined and _continues(line, joined[-1]):
            joined[-1].cells[0] = f"{line.cells[0]} {joined[-1].cells[0]}"
            joined[-1].follows_gap = line.follows_gap
        else:
            joined.append(line)
    joined.reverse()
    # Tables may reach wider than the text block: measure "full" against prose lines only.
    widest = max((line.width for line in joined if line.kind == "text"), default=0)
    out: list[str] = []
    last: _PdfLine | None = None  # the line printed just above
    for line in joined:
        if last is not None and not line.follows_gap:
            if _ends_label(last, line):
                last.cells[0] = f"{last.cells[0]} {line.cells[0]}"
                out[-1] = last.text
                continue
            if _runs_on(last, line, widest):
                glue = "" if _HYPHENATED.search(out[-1]) else " "
                out[-1] = f"{out[-1]}{glue}{line.cells[0]}"
                last = line
                continue
        out.append(line.text)
        last = line
    return "\n".join(out)


def _pdf(data: bytes, filename: str) -> LoadedDocument:
    from pypdf import PasswordType, PdfReader, apply_configuration
    from pypdf.errors import PyPdfError

    try:
        with apply_configuration(array_maximum_element_count=_PDF_ARRAY_LIMIT):
            reader = PdfReader(io.BytesIO(data))
            # Filings often carry an owner password only (printing or copying limits); pypdf
            # opens those with the empty user password, so only a real user password refuses.
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise InvalidInput(f"'{filename}' is password-protected: remove the password and send it again.")
            pages = [page.extract_text(extraction_mode="layout") or "" for page in reader.pages]
            title = reader.metadata.get("/Title") if reader.metadata else None
    except InvalidInput:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise InvalidInput(f"'{filename}' is not a readable PDF (it may be damaged).") from exc
    texts = _without_running_lines([_pdf_page_text(page) for page in pages])
    sections = [Section(f"page {i}", text) for i, text in enumerate(texts, start=1) if text.strip()]
    return LoadedDocument("pdf", _readable_title(str(title or "")), sections)


_DIGITS = re.compile(r"\d+")
EDGE_LINES = 2  # headers and footers sit in a page's first and last lines
RUNNING_LINE_SHARE = 0.3  # a line on this share of the pages (page number aside) is a header or footer


def _without_running_lines(pages: list[str]) -> list[str]:
    """Drop running headers and footers ("Apple Inc. | Q3 2023 Form 10-Q | 17"): the same line,
    page numbers aside, at the top or bottom of many pages. They say nothing, yet carry the
    document's name and period, so they would match every question about it."""
    if len(pages) < 4:
        return pages
    edges = [_edge_lines(page) for page in pages]
    seen: dict[str, int] = {}
    for page_edges in edges:
        for key in {_DIGITS.sub("#", line) for line in page_edges}:
            seen[key] = seen.get(key, 0) + 1
    running = {key for key, count in seen.items() if count >= max(3, RUNNING_LINE_SHARE * len(pages))}
    cleaned = []
    for page, page_edges in zip(pages, edges, strict=True):
        drop = {line for line in page_edges if _DIGITS.sub("#", line) in running}
        cleaned.append("\n".join(line for line in page.splitlines() if line.strip() not in drop))
    return cleaned


def _edge_lines(page: str) -> list[str]:
    lines = [line.strip() for line in page.splitlines() if line.strip()]
    return lines[:EDGE_LINES] + lines[-EDGE_LINES:]


_TITLE_WORD = re.compile(r"[^\W\d_]{3,}|[\u4e00-\u9fff]{2,}")


def _readable_title(title: str) -> str | None:
    """A PDF's metadata title when it reads as one; generators often leave an accession number
    ("0000320193-22-000070") or "04.01.2023 10Q Document" there, and the file name says more."""
    words = _TITLE_WORD.findall(title)
    return title.strip() if len(words) >= 2 else None


def _docx(data: bytes, filename: str) -> LoadedDocument:
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidInput(f"'{filename}' is not a readable Word (.docx) file.") from exc
    lines: list[str] = []
    title = document.core_properties.title or None
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if style == "Title":
            title = title or text
            lines.append(f"# {text}")
        elif style.startswith("Heading"):
            level = int(style.split()[-1]) if style.split()[-1].isdigit() else 2
            lines.append(f"{'#' * min(level + 1, 6)} {text}")
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    heading_title, sections = _markdown_sections("\n\n".join(lines))
    return LoadedDocument("docx", title or heading_title, sections)


def _html(data: bytes, filename: str) -> LoadedDocument:
    import trafilatura

    html = _decode(data, filename)
    # trafilatura drops scripts, styles and navigation; only the readable content is kept.
    text = trafilatura.extract(
        html, output_format="markdown", include_tables=True, include_comments=False, favor_recall=True
    )
    metadata = trafilatura.extract_metadata(html)
    title = metadata.title if metadata is not None and metadata.title else None
    if not text:
        raise InvalidInput(f"'{filename}' has no readable text.")
    heading_title, sections = _markdown_sections(text)
    return LoadedDocument("html", title or heading_title, sections)


def _csv(data: bytes, filename: str) -> LoadedDocument:
    text = _decode(data, filename)
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise InvalidInput(f"'{filename}' is not valid CSV: {exc}.") from exc
    if not rows:
        raise InvalidInput(f"'{filename}' has a header but no rows.")
    sections: list[Section] = []
    accounts: set[str] = set()
    for number, raw_row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw_row.items()}
        body = row.get("text") or row.get("notes") or row.get("body") or ""
        if not body:
            body = "; ".join(f"{k}: {v}" for k, v in row.items() if v)
        if not body:
            continue
        heading = (
            " ".join(p for p in (row.get("date"), row.get("entry_type"), row.get("subject")) if p) or f"row {number}"
        )
        author = f" ({row['author']})" if row.get("author") else ""
        sections.append(Section(heading + author, body))
        if row.get("account"):
            accounts.add(row["account"])
    meta: dict[str, object] = {"csv_rows": True}
    if len(accounts) == 1:
        meta["account"] = accounts.pop()
    return LoadedDocument("csv", None, sections, meta)
