"""Synthetic questions (InPars / Promptagator style): a chat model writes one question per passage, and only
good ones are kept.

`QuestionWriter` is the seam: `write(passage) -> question or None`. The CLI implements it over the local
chat model with `question_messages` (a few-shot prompt whose fixed prefix the server's KV cache reuses) and
a JSON schema whose `question` must match `QUESTION_PATTERN` (one question, enforced by the grammar);
`retrieval.training.testing` has a deterministic double. A question is kept when:
- it reads as one standalone question (`question_problem`: not empty, 3-32 words, ends with one "?", does
  not mention "the passage", does not copy a run of the passage, does not borrow a name from the few-shot
  examples that its passage lacks), and is not a duplicate;
- round-trip consistency: BM25 or the bi-encoder ranks its source passage in the top `top_n` of the corpus.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from retrieval.training.corpus import Passage
from retrieval.training.index import PassageIndex

QUESTION_PATTERN = r'^[A-Z][^?\n"\\]{8,160}\?$'
MIN_WORDS, MAX_WORDS, MAX_CHARS = 3, 32, 220
MAX_PROMPT_CHARS = 1500
WORD = re.compile(r"\w+")
META = re.compile(
    r"\b(this|these|above|given|following|provided)\s+(passage|text|section|document|excerpt|paragraph|snippet|"
    r"article|context)\b|\bthe\s+(passage|excerpt|snippet|paragraph)\b|\baccording to the (text|document|section)\b",
    re.IGNORECASE,
)
Progress = Callable[[int, int], None]  # (passages done, passages in all)


class QuestionWriter(Protocol):
    def write(self, passage: Passage) -> str | None:
        """One question the passage answers, or None when none could be written."""
        ...


SYSTEM_PROMPT = (
    "You write search questions for technical documentation. Given a passage, write one question that a user "
    "could type into a search box and that this passage answers. Name the specific thing the passage is about "
    "(command, function, option, setting) so that the question makes sense on its own. Do not copy a sentence "
    'from the passage and do not mention "the passage" or "the text". Reply with JSON: {"question": "..."}'
)
FEW_SHOT: tuple[tuple[str, str, str, str], ...] = (
    (
        "rsync(1)",
        "OPTIONS",
        "--partial\n\nBy default, rsync will delete any partially transferred file if the transfer is interrupted. "
        "In some circumstances it is more desirable to keep partially transferred files. Using the --partial "
        "option tells rsync to keep the partial file which should make a subsequent transfer of the rest of the "
        "file much faster.",
        "How can I make rsync keep partially transferred files when a transfer is interrupted?",
    ),
    (
        "ssh_config(5)",
        "ServerAliveInterval",
        "ServerAliveInterval\n\nSets a timeout interval in seconds after which if no data has been received from "
        "the server, ssh will send a message through the encrypted channel to request a response from the server. "
        "The default is 0, indicating that these messages will not be sent to the server.",
        "How do I keep an idle ssh connection from being dropped?",
    ),
    (
        "SQLite Write-Ahead Logging",
        "Concurrency",
        "When a read operation begins on a WAL-mode database, it first remembers the location of the last valid "
        "commit record in the WAL. Because writers do nothing that would interfere with the actions of readers, "
        "writers and readers can run at the same time. Readers do not block writers and writers do not block "
        "readers.",
        "Can readers and writers use an SQLite database at the same time in WAL mode?",
    ),
    (
        "Module ngx_http_gzip_module",
        "gzip_min_length",
        "Syntax: gzip_min_length length;\nDefault: gzip_min_length 20;\nContext: http, server, location\n\nSets "
        "the minimum length of a response that will be gzipped. The length is determined only from the "
        "Content-Length response header field.",
        "Which responses are too short for gzip_min_length to compress?",
    ),
)
# Names from the examples; a question that uses one its passage lacks copied it from the examples.
EXAMPLE_TERMS = ("rsync", "ssh", "sqlite", "wal", "nginx", "gzip")


def passage_prompt(title: str, heading_path: Sequence[str], text: str) -> str:
    section = " > ".join(h for h in dict.fromkeys(heading_path) if h != title) or "-"
    return f"Title: {title or '-'}\nSection: {section}\n\nPassage:\n{text[:MAX_PROMPT_CHARS]}"


def question_messages(passage: Passage) -> list[dict[str, str]]:
    """The few-shot chat prompt; the passage comes last, so the fixed prefix is cached by the server."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for title, section, text, question in FEW_SHOT:
        messages.append({"role": "user", "content": passage_prompt(title, [section], text)})
        messages.append({"role": "assistant", "content": '{"question": "' + question + '"}'})
    messages.append({"role": "user", "content": passage_prompt(passage.title, passage.heading_path, passage.text)})
    return messages


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def copies_passage(question_words: list[str], passage_words: list[str]) -> bool:
    """True when most of the question is one contiguous run of the passage's words."""
    run = max(6, math.ceil(0.8 * len(question_words)))
    if len(question_words) < run:
        return False
    grams = {tuple(passage_words[i : i + run]) for i in range(len(passage_words) - run + 1)}
    return any(tuple(question_words[i : i + run]) in grams for i in range(len(question_words) - run + 1))


def question_problem(question: str | None, passage_text: str) -> str | None:
    """Why a generated question is unusable (a short reason), or None when it is fine."""
    text = " ".join((question or "").split())
    if not text:
        return "empty"
    tokens = words(text)
    if len(tokens) < MIN_WORDS:
        return "too short"
    if len(tokens) > MAX_WORDS or len(text) > MAX_CHARS:
        return "too long"
    if not text.endswith("?"):
        return "not a question"
    if text.count("?") > 1:
        return "several questions"
    if META.search(text):
        return "mentions the passage"
    passage_words = words(passage_text)
    if copies_passage(tokens, passage_words):
        return "copies the passage"
    if any(term in tokens and term not in passage_words for term in EXAMPLE_TERMS):
        return "borrows from the examples"
    return None


@dataclass
class QuestionRecord:
    passage_id: str
    doc_id: str
    question: str
    kept: bool
    reason: str = ""  # why it was dropped
    bm25_rank: int | None = None
    dense_rank: int | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def generate_questions(
    passages: Sequence[Passage],
    writer: QuestionWriter,
    *,
    deadline: float | None = None,
    progress: Progress | None = None,
) -> list[QuestionRecord]:
    """One question per passage, checked by `question_problem` and for duplicates. Stops at `deadline`
    (a `time.monotonic()` value) if given."""
    records: list[QuestionRecord] = []
    seen: set[str] = set()
    for done, passage in enumerate(passages, start=1):
        if deadline is not None and time.monotonic() >= deadline:
            break
        started = time.perf_counter()
        question = " ".join((writer.write(passage) or "").split())
        record = QuestionRecord(passage.id, passage.doc_id, question, kept=True)
        record.seconds = round(time.perf_counter() - started, 3)
        problem = question_problem(question, passage.text)
        key = " ".join(words(question))
        if problem is None and key in seen:
            problem = "duplicate"
        if problem is not None:
            record.kept, record.reason = False, problem
        seen.add(key)
        records.append(record)
        if progress:
            progress(done, len(passages))
    return records


def filter_by_rank(records: Sequence[QuestionRecord], index: PassageIndex, top_n: int) -> None:
    """Round-trip consistency: keep a question only if BM25 or the bi-encoder ranks its passage in the top
    `top_n` of the corpus (records already dropped are left alone; ranks are recorded on every checked one)."""
    checked = [r for r in records if r.kept]
    vectors = index.embed_queries([r.question for r in checked])
    for record, vector in zip(checked, vectors, strict=True):
        ranks = index.ranks(record.question, vector, index.position[record.passage_id], bm25_depth=max(top_n, 100))
        record.bm25_rank, record.dense_rank = ranks.bm25, ranks.dense
        if ranks.best() > top_n:
            record.kept, record.reason = False, f"source not in the BM25 or bi-encoder top {top_n}"
