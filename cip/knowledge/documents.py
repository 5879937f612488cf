"""A knowledge-base document read into chunks: its format told by its file name (Markdown,
plain text, HTML, PDF), its text split into sections by headings (each with its heading path,
outermost first), then each section by paragraphs into chunks of at most `chunk_chars`.
Anything that cannot be read is a `DocumentRefused` naming why; nothing is stored then."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath
from typing import Literal

Format = Literal["markdown", "text", "html", "pdf"]
FORMATS: dict[str, Format] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
WRONG_TYPE = "{name}: not a document the knowledge base takes (.md, .txt, .html or .pdf)"
TOO_LARGE = "{name}: {size} bytes, more than [knowledge] max_document_bytes ({limit})"
NOT_UTF8 = "{name}: not UTF-8 text"
BAD_PDF = "{name}: not a readable PDF ({reason})"
NO_TEXT = "{name}: no text found (a scanned PDF has none)"
MAX_NAME_CHARS = 255

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SPACES = re.compile(r"[ \t\r\f\v]+")


class DocumentRefused(ValueError):
    """A document that cannot go into the knowledge base; the message says why."""


@dataclass(frozen=True)
class Section:
    headings: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Chunk:
    headings: tuple[str, ...]
    content: str


@dataclass(frozen=True)
class Document:
    name: str
    format: Format
    size: int
    chunks: list[Chunk]


def format_of(name: str) -> Format:
    found = FORMATS.get(PurePath(name).suffix.lower())
    if found is None:
        raise DocumentRefused(WRONG_TYPE.format(name=name))
    return found


def read_document(name: str, data: bytes, *, max_bytes: int, chunk_chars: int) -> Document:
    """The document `data` (the file `name`) in chunks; `DocumentRefused` for a file of
    another type, larger than `max_bytes`, unreadable, or without text. CPU-bound for a large
    PDF: call it in a thread from the event loop."""
    kind = format_of(name)
    if not 0 < len(name) <= MAX_NAME_CHARS:
        raise DocumentRefused(f"{name[:40]}…: a name of 1 to {MAX_NAME_CHARS} characters")
    check_size(name, len(data), max_bytes)
    if kind == "pdf":
        sections = pdf_sections(name, data)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DocumentRefused(NOT_UTF8.format(name=name)) from None
        if kind == "markdown":
            sections = markdown_sections(text)
        elif kind == "html":
            sections = html_sections(text)
        else:
            sections = [Section((), text)]
    chunks = [chunk for section in sections for chunk in chunked(section, chunk_chars)]
    if not chunks:
        raise DocumentRefused(NO_TEXT.format(name=name))
    return Document(name=name, format=kind, size=len(data), chunks=chunks)


def check_size(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise DocumentRefused(TOO_LARGE.format(name=name, size=size, limit=max_bytes))


def markdown_sections(text: str) -> list[Section]:
    """Sections by ATX headings (`#` to `######`; none inside fenced code)."""
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    fenced = False

    def close() -> None:
        sections.append(Section(tuple(title for _, title in path), "\n".join(lines)))
        lines.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _MD_HEADING.match(line)
        if heading is None:
            lines.append(line)
            continue
        close()
        level = len(heading.group(1))
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, heading.group(2)))
    close()
    return sections


class _HtmlText(HTMLParser):
    """An HTML page's text by sections: headings `h1` to `h6` start sections, block elements
    break paragraphs, `script`, `style` and `template` are dropped."""

    BLOCKS = frozenset(
        [
            "p",
            "div",
            "li",
            "ul",
            "ol",
            "br",
            "tr",
            "table",
            "section",
            "article",
            "header",
            "footer",
            "blockquote",
            "pre",
            "dd",
            "dt",
        ]
    )
    DROPPED = frozenset({"script", "style", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[Section] = []
        self._path: list[tuple[int, str]] = []
        self._text: list[str] = []
        self._heading: list[str] | None = None
        self._level = 0
        self._dropped = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.DROPPED:
            self._dropped += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._close()
            self._heading, self._level = [], int(tag[1])
        elif tag in self.BLOCKS:
            self._text.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.DROPPED:
            self._dropped = max(0, self._dropped - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            title = _SPACES.sub(" ", "".join(self._heading)).strip()
            self._heading = None
            while self._path and self._path[-1][0] >= self._level:
                self._path.pop()
            if title:
                self._path.append((self._level, title))
        elif tag in self.BLOCKS:
            self._text.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._dropped:
            return
        (self._heading if self._heading is not None else self._text).append(data)

    def _close(self) -> None:
        self.sections.append(Section(tuple(t for _, t in self._path), "".join(self._text)))
        self._text = []

    def close(self) -> None:
        super().close()
        self._close()


def html_sections(text: str) -> list[Section]:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    return parser.sections


def pdf_sections(name: str, data: bytes) -> list[Section]:
    """A text PDF's pages, each a section headed by its page number."""
    from pypdf import PdfReader  # loaded only by the command that reads a PDF
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its notes on a bad file: the refusal says
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentRefused(BAD_PDF.format(name=name, reason=exc or type(exc).__name__)) from None
    return [Section((f"p. {number}",), text) for number, text in enumerate(pages, 1)]


def chunked(section: Section, chunk_chars: int) -> list[Chunk]:
    """The section's paragraphs joined into chunks of at most `chunk_chars` characters; a
    longer paragraph is cut at the last space that fits (or at the limit)."""
    chunks: list[Chunk] = []
    current = ""
    for raw in _PARAGRAPH_BREAK.split(section.text):
        paragraph = "\n".join(
            line for line in (_SPACES.sub(" ", line).strip() for line in raw.splitlines()) if line
        )
        while len(paragraph) > chunk_chars:
            cut = paragraph.rfind(" ", 0, chunk_chars + 1)
            cut = cut if cut > chunk_chars // 2 else chunk_chars
            if current:
                chunks.append(Chunk(section.headings, current))
                current = ""
            chunks.append(Chunk(section.headings, paragraph[:cut].strip()))
            paragraph = paragraph[cut:].strip()
        if not paragraph:
            continue
        if current and len(current) + 2 + len(paragraph) > chunk_chars:
            chunks.append(Chunk(section.headings, current))
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        chunks.append(Chunk(section.headings, current))
    return chunks
