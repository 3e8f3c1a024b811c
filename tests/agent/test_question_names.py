"""Names in questions (agent.evidence.question_names) and the collection's vocabulary they are looked up in
(retrieval.bm25.BM25Index.unknown_terms, through the real bm25s index)."""

from __future__ import annotations

import pytest

from agent.evidence import question_names
from retrieval.bm25 import BM25Index


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("How do I configure SQLite as the database of a Django project?", ["SQLite", "Django"]),
        ("Which SQLAlchemy connection URL do I use for a SQLite file?", ["SQLAlchemy", "SQLite"]),
        ("How do I stream my database to S3 with Litestream?", ["Litestream"]),  # S3: too short to tell
        ("Why is my database locked?", []),  # the first word is capitalised by the sentence, not a name
        ("how do i use pgloader?", []),  # a lower-case name is not recognised (a known gap)
    ],
)
def test_names_are_capitalised_words_after_the_first(question: str, names: list[str]) -> None:
    assert question_names(question) == names


def test_unknown_terms_are_those_no_indexed_chunk_contains() -> None:
    index = BM25Index.build(["a", "b"], ["SQLite supports WAL mode.", "Use PostgreSQL-style placeholders."])
    assert index.unknown_terms(["SQLite", "postgresql", "Django", "WAL", "Litestream"]) == ["Django", "Litestream"]
    assert BM25Index.build([], []).unknown_terms(["SQLite"]) == ["SQLite"]
