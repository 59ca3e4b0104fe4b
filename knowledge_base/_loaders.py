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

import yaml

from bot.core.errors import InvalidInput, UnsupportedMedia

__all__ = ["SUPPORTED_SUFFIXES", "LoadedDocument", "Section", "load_document"]

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


def _pdf(data: bytes, filename: str) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise InvalidInput(f"'{filename}' is password-protected: remove the password and send it again.")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = reader.metadata.get("/Title") if reader.metadata else None
    except InvalidInput:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise InvalidInput(f"'{filename}' is not a readable PDF (it may be damaged).") from exc
    sections = [Section(f"page {i}", text.strip()) for i, text in enumerate(pages, start=1) if text.strip()]
    return LoadedDocument("pdf", str(title) if title else None, sections)


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
