"""Source code: split on top-level definitions, found as blank-line blocks that start at column 0.

A block (lines up to a blank line) starting at column 0 with a definition keyword opens a new
section named by its first line (the signature); other blocks (imports, constants, comments) join
the section before them. Decorators and comments directly above a definition stay with it.
"""

from __future__ import annotations

import re
from pathlib import Path

from retrieval.loaders.base import Document, Section, Warn, content_hash, make_document, read_text

LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "javascript", ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rs": "rust",
    ".java": "java", ".kt": "kotlin", ".scala": "scala", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp",
    ".hpp": "cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php", ".swift": "swift", ".sh": "shell",
    ".bash": "shell", ".sql": "sql", ".lua": "lua", ".r": "r", ".jl": "julia", ".pl": "perl",
}  # fmt: skip
DEFINITION = re.compile(
    r"^(?:@|(?:export\s+)?(?:default\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:public\s+|private\s+|protected\s+)?"
    r"(?:static\s+|final\s+|abstract\s+|async\s+|unsafe\s+|inline\s+)*"
    r"(?:def|class|function|func|fn|struct|enum|impl|trait|interface|type|module|object|"
    r"CREATE|create|local\s+function|sub)\b)"
)
C_FUNCTION = re.compile(r"^[A-Za-z_][\w\s\*&:<>,]*\([^;]*$")  # `int main(void) {` and the like


def _blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = [[]]
    for line in text.split("\n"):
        if not line.strip():
            if blocks[-1]:
                blocks.append([])
        else:
            blocks[-1].append(line)
    return [b for b in blocks if b]


def _signature(block: list[str]) -> str | None:
    for line in block:
        if line[:1].isspace():
            return None
        if line.startswith(("@", "#[")) or line.lstrip().startswith(("#", "//", "/*", "*", "--")):
            continue  # decorators and comments above the definition
        if DEFINITION.match(line) or C_FUNCTION.match(line):
            return line.strip().rstrip("{:").strip()
        return None
    return None


def split_code(text: str) -> list[Section]:
    sections: list[Section] = []
    current: list[str] = []
    name: str | None = None
    for block in _blocks(text):
        signature = _signature(block)
        if signature is not None and current:
            sections.append(Section(text="\n\n".join(current), heading_path=[name] if name else []))
            current = []
        if signature is not None:
            name = signature
        current.append("\n".join(block))
    if current:
        sections.append(Section(text="\n\n".join(current), heading_path=[name] if name else []))
    return sections


def load_code(path: Path, doc_id: str, *, max_bytes: int, warn: Warn) -> list[Document]:
    text, data = read_text(path, max_bytes)
    return [
        make_document(
            doc_id=doc_id,
            source=str(path),
            title=path.name,
            sections=split_code(text),
            doc_hash=content_hash(data),
            format="code",
            metadata={"language": LANGUAGES.get(path.suffix.lower(), path.suffix.lower().lstrip("."))},
        )
    ]
