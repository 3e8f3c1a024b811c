"""HTML: the visible text only (no script, style, template, hidden elements), `<title>`, a section per heading.

Block elements become paragraphs; inline elements are joined with spaces, so the text reads as it
renders. The title is `<title>`, else the first `<h1>`, else the file name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from bs4 import (
    BeautifulSoup,
    Comment,
    Declaration,
    Doctype,
    NavigableString,
    PageElement,
    ProcessingInstruction,
    Tag,
)

from retrieval.loaders.base import Document, Section, Warn, content_hash, make_document, read_text, title_from_stem

INVISIBLE = {"script", "style", "noscript", "template", "head", "svg", "canvas", "iframe", "object", "button"}
HEADINGS = {f"h{n}": n for n in range(1, 7)}
BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "nav", "ol", "p",
    "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "br", "caption",
}  # fmt: skip
SPACES = re.compile(r"[ \t\r\f\v]+")
NON_TEXT = (Comment, Declaration, Doctype, ProcessingInstruction)


def _hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    style = str(tag.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


class _Walker:
    """Collects ("heading", level, text) and ("para", 0, text) events in document order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, str]] = []
        self.buffer: list[str] = []
        self.in_pre = 0  # inside <pre> (at any depth) line breaks are kept

    def flush(self) -> None:
        raw = "".join(self.buffer)
        if self.in_pre:
            text = "\n".join(line.rstrip() for line in raw.strip("\n").split("\n")).strip("\n")
        else:
            text = SPACES.sub(" ", raw).strip()
            text = "\n".join(line.strip() for line in text.split("\n") if line.strip())
        if text:
            self.events.append(("para", 0, text))
        self.buffer = []

    def walk(self, root: Tag) -> None:
        """Depth-first over `root`'s descendants with an explicit stack: any nesting depth is fine."""
        stack: list[tuple[Iterator[PageElement], str | None]] = [(iter(root.children), None)]
        while stack:
            children, block = stack[-1]
            child = next(children, None)
            if child is None:  # this element is done
                stack.pop()
                if block is not None:
                    self.flush()
                    self.in_pre -= block == "pre"
                continue
            if isinstance(child, NON_TEXT):
                continue
            if isinstance(child, NavigableString):
                self.buffer.append(str(child) if self.in_pre else str(child).replace("\n", " "))
                continue
            if not isinstance(child, Tag) or child.name in INVISIBLE or _hidden(child):
                continue
            if child.name in HEADINGS:
                self.flush()
                heading = SPACES.sub(" ", child.get_text(" ", strip=True)).strip()
                if heading:
                    self.events.append(("heading", HEADINGS[child.name], heading))
            elif child.name in BLOCKS:
                self.flush()
                self.in_pre += child.name == "pre"
                stack.append((iter(child.children), child.name))
            else:
                stack.append((iter(child.children), None))


def parse_html(markup: str) -> tuple[str, list[Section]]:
    soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title")
    title = SPACES.sub(" ", title_tag.get_text(" ", strip=True)) if title_tag else ""
    walker = _Walker()
    root = soup.body if soup.body is not None else soup
    walker.walk(root)
    walker.flush()

    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    paras: list[str] = []
    pending: list[str] = []
    first_h1 = ""

    def close() -> None:
        nonlocal paras, pending
        if paras:
            sections.append(Section(text="\n\n".join([*pending, *paras]), heading_path=[h for _, h in stack]))
            pending = []
        paras = []

    for kind, level, text in walker.events:
        if kind == "heading":
            close()  # a heading with nothing under it stays pending and is carried to the next section
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
            pending.append(text)
            if level == 1 and not first_h1:
                first_h1 = text
        else:
            paras.append(text)
    close()
    if pending:
        sections.append(Section(text="\n\n".join(pending), heading_path=[h for _, h in stack]))
    return title or first_h1, sections


def load_html(path: Path, doc_id: str, *, max_bytes: int, warn: Warn) -> list[Document]:
    text, data = read_text(path, max_bytes)
    title, sections = parse_html(text)
    return [
        make_document(
            doc_id=doc_id,
            source=str(path),
            title=title or title_from_stem(path),
            sections=sections,
            doc_hash=content_hash(data),
            format="html",
        )
    ]
