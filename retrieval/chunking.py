"""Structure-respecting chunking: a document's sections → `Chunk`s that fit the embedder.

Sections (a heading's text, a PDF page, a code definition) never share a chunk. Inside a section the
text is cut into units (sentences, and lines for lists and code), each measured with the embedder's
own tokenizer (`Embedder.count_tokens`), and packed greedily into chunks of at most
`max_tokens - margin` word pieces. When a chunk is full, the cut moves back to the last paragraph end
(or else the last sentence end) if that keeps the chunk at least half full. The next chunk of the
same section starts with the last units of the previous one, up to `overlap_tokens`. A unit longer
than a chunk (a huge sentence, a minified line) is split at words, and a huge word at characters.

Reference manuals (man pages, option lists, one huge page of pragmas) get one more level of structure, found
in the text itself, because their loaders often give one section for the whole list (a JSONL record, a page
whose entries are not headings): in a section longer than one chunk,
- a manual page's section name on a line of its own (NAME, SYNOPSIS, OPTIONS...; at least two of them) starts
  a sub-section with that name added to the heading path, so the page header (NAME, SYNOPSIS) is a chunk of
  its own and never the start of every chunk;
- an entry list (at least `MIN_ENTRIES` entries), where an entry starts at a short term line (`-x`,
  `--force`, `.import FILE TABLE`, `PRAGMA foreign_keys;`, `date(time-value, ...)`) followed by its
  description, is split per entry, the entry's first term line added to the heading path (kept in the
  chunk's `heading_path`, shown in the answer prompt's source header).
What reaches the prompt for an option question is then the option's own entry, not the page's opening.
Site navigation before a page's first heading (a run of one-to-three-word lines: "Home", "Menu", "About",
"Download"... on every page of a manual) is not chunked: it would be a near-duplicate chunk on every page,
matching any question that names the product.

Each chunk's text is the exact slice `document.text[chunk.start:chunk.end]`. Its id is a sha1 of the
document id, the document hash, the chunking signature (limits, overlap, embedder) and its position,
so re-chunking the same content with the same settings gives the same ids.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from retrieval.loaders.base import Document, Section
from retrieval.types import Chunk, Embedder

CHUNKER_VERSION = 2  # 2: reference entries and ALL-CAPS section markers split long sections
DEFAULT_OVERLAP_TOKENS = 32
DEFAULT_MARGIN_TOKENS = 16  # room for special tokens and tokenizer differences at the joins

PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s|$)")
WORD = re.compile(r"\S+")
MIN_ENTRIES = 3
MIN_MARKERS = 2
NAV_MIN_ITEMS = 8
NAV_SHARE = 0.75
TERM_MAX_CHARS = 100
HEADING_TERM_CHARS = 60
# a term line of a reference entry: an option, a dot-command, a keyword statement, a function signature
TERM_LINE = re.compile(
    r"--?[A-Za-z0-9][\w-]*(?:[ ,=].*)?"
    r"|\.[a-z][\w-]*(?:\s.*)?"
    r"|[A-Z][A-Z_]{2,}\s+[\w.]+(?:\s*[(=;].*|\s*)"
    r"|[A-Za-z_][\w.]*\([^()]*\)\s*;?"
)
# the section names of manual pages (man, asciidoc), written in capitals on a line of their own
MARKER_LINE = re.compile(
    r"NAME|SYNOPSIS|DESCRIPTION|OPTIONS|COMMANDS|SUBCOMMANDS|EXAMPLES?|SEE ALSO|ENVIRONMENT(?: VARIABLES)?|FILES"
    r"|EXIT STATUS|RETURN VALUES?|NOTES|BUGS|REPORTING BUGS|AUTHORS?|CONFIGURATION|DISCUSSION|HISTORY|CAVEATS"
    r"|DIAGNOSTICS|COPYRIGHT|STANDARDS|SECURITY|OUTPUT|USAGE"
)


def chunking_signature(
    embedder_name: str,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    margin_tokens: int = DEFAULT_MARGIN_TOKENS,
) -> str:
    """Changes whenever the same document would be chunked or embedded differently. The token limit is
    the embedder's (`max_tokens`), so its name stands for it: computing this loads no model."""
    return f"chunker-v{CHUNKER_VERSION}/margin{margin_tokens}/overlap{overlap_tokens}/{embedder_name}"


@dataclass(frozen=True)
class _Unit:
    start: int  # offsets in the section text
    end: int
    tokens: int
    paragraph_end: bool
    sentence_end: bool


@dataclass(frozen=True)
class Chunker:
    count_tokens: Callable[[str], int]
    max_tokens: int  # the model's input limit in word pieces
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS
    margin_tokens: int = DEFAULT_MARGIN_TOKENS
    embedder_name: str = ""

    @classmethod
    def for_embedder(cls, embedder: Embedder, **options: int) -> Chunker:
        return cls(
            count_tokens=embedder.count_tokens,
            max_tokens=embedder.max_tokens,
            embedder_name=embedder.name,
            **options,
        )

    @property
    def budget(self) -> int:
        """The most word pieces a chunk's text may have."""
        return max(8, self.max_tokens - self.margin_tokens)

    @property
    def signature(self) -> str:
        return chunking_signature(self.embedder_name, self.overlap_tokens, self.margin_tokens)

    def chunk_id(self, doc_id: str, doc_hash: str, index: int) -> str:
        key = "\x00".join([doc_id, doc_hash, self.signature, str(index)])
        return hashlib.sha1(key.encode("utf-8")).hexdigest()

    def chunk(self, document: Document) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in document.sections:
            if not section.heading_path and len(document.sections) > 1 and is_navigation(section.text):
                continue
            parts: list[tuple[int, int, list[str]]] = [(0, len(section.text), [])]
            if self.count_tokens(section.text) > self.budget:
                parts = reference_parts(section.text)
            for part_start, part_end, extra_path in parts:
                for start, end in self._spans(section.text[part_start:part_end]):
                    start, end = part_start + start, part_start + end
                    index = len(chunks)
                    metadata = {**document.metadata, "format": document.format}
                    chunks.append(
                        Chunk(
                            id=self.chunk_id(document.doc_id, document.doc_hash, index),
                            text=section.text[start:end],
                            doc_id=document.doc_id,
                            source=document.source,
                            title=document.title,
                            heading_path=[*section.heading_path, *extra_path],
                            page=section.page,
                            start=section.start + start,
                            end=section.start + end,
                            doc_hash=document.doc_hash,
                            metadata=metadata,
                        )
                    )
        return chunks

    # -- packing ----------------------------------------------------------------------------------

    def _spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) offsets in `text` of the chunks of one section."""
        specials = self.count_tokens("")  # [CLS]/[SEP] if the tokenizer counts them: once per chunk
        units = self._units(text, specials)
        budget = self.budget - specials  # for the sum of the units' own tokens
        spans: list[tuple[int, int]] = []
        i, n, last_end = 0, len(units), -1  # last_end: index of the last unit already in a chunk
        while i < n:
            j, total = i, 0
            while j < n and total + units[j].tokens <= budget:
                total += units[j].tokens
                j += 1
            j = max(j, i + 1)
            if j < n:
                j = self._better_cut(units, i, j, budget)
            # the real count of the joined text is the limit; back off while it is over
            while j - i > 1 and self.count_tokens(text[units[i].start : units[j - 1].end]) > self.budget:
                j -= 1
            if j - 1 <= last_end:  # the overlap left no room for a new unit: start without it
                i = last_end + 1
                continue
            spans.append((units[i].start, units[j - 1].end))
            if j >= n:
                break
            last_end = j - 1
            i = self._overlap_start(units, i, j, budget)
        return spans

    @staticmethod
    def _better_cut(units: list[_Unit], i: int, j: int, budget: int) -> int:
        """Move the cut back to a paragraph end, else a sentence end, keeping the chunk half full."""
        for attribute in ("paragraph_end", "sentence_end"):
            total = sum(u.tokens for u in units[i:j])
            for k in range(j - 1, i, -1):  # cut after unit k
                if total < budget // 2:
                    break
                if getattr(units[k], attribute):
                    return k + 1
                total -= units[k].tokens
        return j

    def _overlap_start(self, units: list[_Unit], i: int, j: int, budget: int) -> int:
        """Where the next chunk starts: a few units before `j`, as long as unit `j` still fits after them."""
        k, carried = j, 0
        limit = min(self.overlap_tokens, budget - units[j].tokens)
        while k - 1 > i and carried + units[k - 1].tokens <= limit:
            carried += units[k - 1].tokens
            k -= 1
        return k

    # -- units ------------------------------------------------------------------------------------

    def _units(self, text: str, specials: int) -> list[_Unit]:
        units: list[_Unit] = []
        budget = self.budget - specials
        for p_start, p_end in _paragraphs(text):
            pieces = list(_sentences(text, p_start, p_end))
            for number, (start, end) in enumerate(pieces):
                is_last = number == len(pieces) - 1
                piece = text[start:end]
                tokens = max(1, self.count_tokens(piece) - specials)
                sentence_end = bool(SENTENCE_END.search(piece[-4:])) or piece.endswith(("\n", ":"))
                if tokens <= budget:
                    units.append(_Unit(start, end, tokens, is_last, sentence_end or is_last))
                    continue
                parts = self._split_long(text, start, end, specials)
                for k, (s, e, t) in enumerate(parts):
                    last_part = k == len(parts) - 1
                    units.append(_Unit(s, e, t, is_last and last_part, (sentence_end or is_last) and last_part))
        return units

    def _split_long(self, text: str, start: int, end: int, specials: int) -> list[tuple[int, int, int]]:
        """Split text[start:end] at spaces (and huge words at characters) into pieces within the budget."""
        budget = self.budget - specials

        def count(piece: str) -> int:
            return max(1, self.count_tokens(piece) - specials)

        words: list[tuple[int, int, int]] = []
        for match in WORD.finditer(text, start, end):
            s, e = match.start(), match.end()
            tokens = count(text[s:e])
            if tokens <= budget:
                words.append((s, e, tokens))
                continue
            step = max(1, int((e - s) * budget / tokens * 0.8))
            while s < e:
                piece_end = min(e, s + step)
                while piece_end - s > 1 and count(text[s:piece_end]) > budget:
                    piece_end = s + max(1, (piece_end - s) // 2)
                words.append((s, piece_end, count(text[s:piece_end])))
                s = piece_end
        pieces: list[tuple[int, int, int]] = []
        current: list[tuple[int, int, int]] = []
        total = 0
        for word in words:
            if current and total + word[2] > budget:
                pieces.append((current[0][0], current[-1][1], total))
                current, total = [], 0
            current.append(word)
            total += word[2]
        if current:
            pieces.append((current[0][0], current[-1][1], total))
        return pieces


def reference_parts(text: str) -> list[tuple[int, int, list[str]]]:
    """(start, end, heading path added) of the parts of a long section: split at ALL-CAPS section markers and
    per reference entry (see the module docstring); the whole text with no added path when it has neither."""
    paragraphs = _paragraphs(text)
    markers = [i for i, (s, e) in enumerate(paragraphs) if MARKER_LINE.fullmatch(text[s:e])]
    blocks: list[tuple[int, int, list[str]]] = []  # paragraph index ranges with their marker path
    if len(markers) >= MIN_MARKERS:
        if markers[0] > 0:
            blocks.append((0, markers[0], []))
        for k, first in enumerate(markers):
            last = markers[k + 1] if k + 1 < len(markers) else len(paragraphs)
            s, e = paragraphs[first]
            blocks.append((first, last, [text[s:e]]))
    else:
        blocks.append((0, len(paragraphs), []))
    parts: list[tuple[int, int, list[str]]] = []
    for first, last, path in blocks:
        for p_first, p_last, entry in _entries(text, paragraphs, first, last):
            parts.append((paragraphs[p_first][0], paragraphs[p_last - 1][1], [*path, *entry]))
    parts = [part for part in parts if part[1] > part[0]]
    return parts if len(parts) > 1 else [(0, len(text), [])]


def _entries(text: str, paragraphs: list[tuple[int, int]], first: int, last: int) -> list[tuple[int, int, list[str]]]:
    """Paragraph ranges [first, last) split per reference entry: an entry starts at a term line that follows a
    description (or opens the block) and runs to the next such start. Fewer than MIN_ENTRIES: one range."""
    is_term = [_is_term(text[s:e]) for s, e in paragraphs[first:last]]
    starts = [first + i for i, term in enumerate(is_term) if term and (i == 0 or not is_term[i - 1])]
    # an entry needs a description: a run of term lines at the very end is not one
    starts = [i for i in starts if any(not is_term[j - first] for j in range(i, last))]
    if len(starts) < MIN_ENTRIES:
        return [(first, last, [])] if last > first else []
    ranges: list[tuple[int, int, list[str]]] = []
    if starts[0] > first:
        ranges.append((first, starts[0], []))
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else last
        s, e = paragraphs[start]
        term = " ".join(text[s:e].split())
        ranges.append((start, end, [term if len(term) <= HEADING_TERM_CHARS else term[:HEADING_TERM_CHARS] + "…"]))
    return ranges


def is_navigation(text: str) -> bool:
    """Site furniture: at least NAV_MIN_ITEMS paragraphs, most of them one to three words with no sentence."""
    paragraphs = [text[s:e] for s, e in _paragraphs(text)]
    items = [p for p in paragraphs if len(p.split()) <= 3 and "\n" not in p]
    return len(items) >= NAV_MIN_ITEMS and len(items) >= NAV_SHARE * len(paragraphs)


def _is_term(paragraph: str) -> bool:
    return len(paragraph) <= TERM_MAX_CHARS and "\n" not in paragraph and bool(TERM_LINE.fullmatch(paragraph))


def _paragraphs(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    position = 0
    for match in PARAGRAPH_BREAK.finditer(text):
        spans.append((position, match.start()))
        position = match.end()
    spans.append((position, len(text)))
    return [(s, e) for s, e in (_strip(text, s, e) for s, e in spans) if e > s]


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Lines, and sentences within lines, of text[start:end] (stripped offsets)."""
    spans: list[tuple[int, int]] = []
    line_start = start
    while line_start < end:
        newline = text.find("\n", line_start, end)
        line_end = end if newline < 0 else newline
        position = line_start
        for match in SENTENCE_END.finditer(text, line_start, line_end):
            spans.append((position, match.end()))
            position = match.end()
        spans.append((position, line_end))
        line_start = line_end + 1
    return [(s, e) for s, e in (_strip(text, s, e) for s, e in spans) if e > s]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


__all__ = ["CHUNKER_VERSION", "Chunker", "Document", "Section", "chunking_signature"]
