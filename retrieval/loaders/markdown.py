"""Markdown: a section per heading (ATX `#` and setext underlines), fenced code left whole.

The title comes from a `title:` in the front matter, else the first H1, else the file name. Other
scalar `key: value` front-matter entries become metadata. A heading with no text under it is carried
into the next section, so that no chunk is a lone heading.
"""

from __future__ import annotations

import re
from pathlib import Path

from retrieval.loaders.base import Document, Section, Warn, content_hash, make_document, read_text, title_from_stem

ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*)$")  # closing #s are stripped in Python: a lazy group before
# `[ \t#]*$` made a long run of spaces in one heading line quadratic (100k spaces: minutes)
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
FRONT_MATTER_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """A leading `---` ... `---` block of simple `key: value` lines, and the rest of the text."""
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 3)
    if end < 0:
        return {}, text
    after = text.find("\n", end + 4)
    body = "" if after < 0 else text[after + 1 :]
    fields: dict[str, str] = {}
    for line in text[4:end].split("\n"):
        match = FRONT_MATTER_KEY.match(line.strip())
        if match and match.group(2):
            fields[match.group(1).lower()] = match.group(2).strip().strip("\"'")
    return fields, body


def parse_sections(body: str) -> tuple[list[Section], str]:
    """Sections with heading paths, and the first H1 (or "")."""
    lines = body.split("\n")
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []  # (level, heading text)
    current: list[str] = []
    pending: list[str] = []  # heading lines whose section had no body yet
    first_h1 = ""
    fence: str | None = None

    def flush() -> None:
        nonlocal current, pending
        content = "\n".join(current).strip()
        heading_only = all(not line.strip() or ATX.match(line) for line in current) or _is_setext_only(current)
        if content and not heading_only:
            text = "\n".join([*pending, content]) if pending else content
            sections.append(Section(text=text, heading_path=[h for _, h in stack]))
            pending = []
        elif content:
            pending.append(content)
        current = []

    def open_heading(level: int, title: str, raw: list[str]) -> None:
        nonlocal first_h1
        flush()
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        if level == 1 and not first_h1:
            first_h1 = title
        current.extend(raw)

    i = 0
    while i < len(lines):
        line = lines[i]
        fence_match = FENCE.match(line)
        if fence is not None:
            current.append(line)
            if fence_match and fence_match.group(1)[0] == fence[0] and len(fence_match.group(1)) >= len(fence):
                fence = None
        elif fence_match:
            fence = fence_match.group(1)
            current.append(line)
        elif atx := ATX.match(line):
            open_heading(len(atx.group(1)), atx.group(2).rstrip(" \t#").strip(), [line])
        elif (
            i + 1 < len(lines)
            and line.strip()
            and SETEXT.match(lines[i + 1])
            and (not current or not current[-1].strip())
        ):
            level = 1 if lines[i + 1].strip().startswith("=") else 2
            open_heading(level, line.strip(), [line, lines[i + 1]])
            i += 1
        else:
            current.append(line)
        i += 1
    flush()
    if pending:  # trailing headings without text: keep them rather than lose the words
        sections.append(Section(text="\n".join(pending), heading_path=[h for _, h in stack]))
    return sections, first_h1


def _is_setext_only(lines: list[str]) -> bool:
    content = [line for line in lines if line.strip()]
    return len(content) == 2 and bool(SETEXT.match(content[1]))


def load_markdown(path: Path, doc_id: str, *, max_bytes: int, warn: Warn) -> list[Document]:
    text, data = read_text(path, max_bytes)
    front, body = split_front_matter(text)
    sections, first_h1 = parse_sections(body)
    title = front.get("title") or first_h1 or title_from_stem(path)
    metadata = {key: value for key, value in front.items() if key != "title"}
    return [
        make_document(
            doc_id=doc_id,
            source=str(path),
            title=title,
            sections=sections,
            doc_hash=content_hash(data),
            format="markdown",
            metadata=metadata,
        )
    ]
