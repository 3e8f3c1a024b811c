"""Focus a retrieved chunk on the question: keep its passages that share the question's words, within a token
budget, so the answer prompt carries the relevant sentences of five sources instead of five whole chunks.

Prefill is most of an answer's time on 2 cores (about 47 tokens/s with the 1.5B): every token of context cut is
time saved on the answer, the judge and every retry. The selection is lexical and cheap: a chunk is split into
passages (its lines, and the sentences of long lines), each scored by how many of the question's content words
it holds (compared on their first letters, as in agent.evidence; identifiers also by their parts); the best
passages and their neighbours (an option's name and its description) are kept in their original order, with
"…" where text was left out.
A chunk that already fits is kept whole; one with no matching passage keeps its opening.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.evidence import content_words, stem

CHARS_PER_TOKEN = 4  # for choosing passages; the result is counted with the real tokenizer afterwards
_LINE = re.compile(r"[^\n]+")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=\S)")
LONG_LINE_CHARS = 240  # a line longer than this is split into sentences


def passages(text: str) -> list[str]:
    """The chunk's lines, long lines split into their sentences; blank lines dropped."""
    parts: list[str] = []
    for line in _LINE.findall(text):
        line = line.strip()
        if not line:
            continue
        parts.extend(_SENTENCE_END.split(line) if len(line) > LONG_LINE_CHARS else [line])
    return parts


def focus(text: str, queries: Iterable[str], max_tokens: int) -> str:
    """`text` cut to its passages most about `queries`, within about `max_tokens` (whole when it fits)."""
    limit = max_tokens * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text
    parts = passages(text)
    wanted = set().union(*(_terms(query) for query in queries))
    scores = [len(_terms(part) & wanted) for part in parts]
    order = sorted(range(len(parts)), key=lambda i: (-scores[i], i))
    chosen: set[int] = set()
    used = 0
    for i in order:
        if scores[i] == 0 and chosen:
            break
        for j in (i, i - 1, i + 1):
            if 0 <= j < len(parts) and j not in chosen and used + len(parts[j]) <= limit:
                chosen.add(j)
                used += len(parts[j]) + 1
        if used >= limit:
            break
    if not chosen:  # even the best passage is too long: its start
        return parts[order[0]][:limit].rstrip() + " …" if parts else text[:limit]
    pieces: list[str] = []
    previous = -1
    for i in sorted(chosen):
        if pieces and i != previous + 1:
            pieces.append("…")
        pieces.append(parts[i])
        previous = i
    if min(chosen) > 0:
        pieces.insert(0, "…")
    if max(chosen) < len(parts) - 1:
        pieces.append("…")
    return "\n".join(pieces)


def _terms(text: str) -> set[str]:
    """The stems of `text`'s content words, identifiers also by their parts ("busy_timeout": busy, timeout)."""
    words = content_words(text)
    parts = {part for word in words if "_" in word for part in word.split("_") if len(part) >= 3}
    return {stem(w) for w in words | parts}
