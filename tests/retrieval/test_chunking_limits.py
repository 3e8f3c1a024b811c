"""Chunking: limits measured with the real MiniLM tokenizer, exact offsets, structure, overlap, stable ids."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from retrieval.chunking import Chunker, chunking_signature
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.loaders import Document, Section, load_file, make_document
from retrieval.testing import HashEmbedder

WORDS = [
    "attention",
    "query",
    "key",
    "value",
    "softmax",
    "token",
    "embedding",
    "layer",
    "head",
    "cache",
    "model",
    "transformer",
    "vector",
    "retrieval",
    "chunk",
    "index",
]


def _prose(seed: int, paragraphs: int) -> str:
    rng = random.Random(seed)
    out = []
    for _ in range(paragraphs):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30))).capitalize() + "."
            for _ in range(rng.randint(1, 9))
        ]
        out.append(" ".join(sentences))
    return "\n\n".join(out)


def _doc(sections: list[Section], doc_id: str = "doc-1", doc_hash: str = "h1") -> Document:
    return make_document(
        doc_id=doc_id, source="mem://doc", title="T", sections=sections, doc_hash=doc_hash, format="markdown"
    )


@pytest.fixture(scope="module")
def chunker(embedder: SentenceTransformerEmbedder) -> Chunker:
    return Chunker.for_embedder(embedder)


def test_budget_comes_from_the_embedder(chunker: Chunker, embedder: SentenceTransformerEmbedder) -> None:
    assert embedder.max_tokens == 256
    assert chunker.budget == 256 - 16
    assert chunker.signature == chunking_signature(embedder.name)


def test_every_chunk_fits_and_is_an_exact_slice(chunker: Chunker, embedder: SentenceTransformerEmbedder) -> None:
    long_sentence = " ".join(["tokenization"] * 700)  # one sentence far over the limit
    blob = "x" * 6000  # one "word" far over the limit
    doc = _doc([Section(_prose(1, 25), ["A"]), Section(long_sentence, ["B"]), Section(blob, ["C"])])
    chunks = chunker.chunk(doc)
    assert len(chunks) > 10
    for chunk in chunks:
        assert embedder.count_tokens(chunk.text) <= chunker.budget
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()
    # nothing is lost: every word of the document is in some chunk
    covered = [False] * len(doc.text)
    for chunk in chunks:
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    assert all(covered[i] for i, ch in enumerate(doc.text) if not ch.isspace())
    # big inputs are packed close to the budget, not into tiny pieces
    sizes = [embedder.count_tokens(c.text) for c in chunks if c.heading_path == ["B"]]
    assert max(sizes) > chunker.budget * 0.8


def test_sections_never_share_a_chunk(chunker: Chunker) -> None:
    doc = _doc([Section("Short one.", ["Intro"]), Section("Short two.", ["Usage"], page=3)])
    chunks = chunker.chunk(doc)
    assert [(c.text, c.heading_path, c.page) for c in chunks] == [
        ("Short one.", ["Intro"], None),
        ("Short two.", ["Usage"], 3),
    ]


def test_overlap_repeats_the_last_sentence(chunker: Chunker, embedder: SentenceTransformerEmbedder) -> None:
    text = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(120))
    chunks = chunker.chunk(_doc([Section(text)]))
    assert len(chunks) >= 3
    for first, second in itertools.pairwise(chunks):
        assert second.start < first.end  # they overlap ...
        overlap = text[second.start : first.end]
        assert 0 < embedder.count_tokens(overlap) - 2 <= chunker.overlap_tokens  # ... by at most 32 tokens
        assert overlap.endswith(".")  # whole sentences


def test_cut_prefers_paragraph_ends(chunker: Chunker) -> None:
    paragraphs = [_prose(seed, 1) for seed in range(40)]
    text = "\n\n".join(paragraphs)
    chunks = chunker.chunk(_doc([Section(text)]))
    ends_at_paragraph = sum(text[c.end : c.end + 2] == "\n\n" or c.end == len(text) for c in chunks)
    assert ends_at_paragraph >= len(chunks) * 0.6


def test_chunk_fields_and_stable_ids(chunker: Chunker) -> None:
    doc = _doc([Section(_prose(3, 12), ["Guide", "Install"], page=2)], doc_id="a.md", doc_hash="aaa")
    doc.metadata = {"audience": "ops"}
    first = chunker.chunk(doc)
    again = chunker.chunk(_doc([Section(_prose(3, 12), ["Guide", "Install"], page=2)], "a.md", "aaa"))
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    chunk = first[0]
    assert (chunk.doc_id, chunk.source, chunk.title, chunk.heading_path, chunk.page, chunk.doc_hash) == (
        "a.md",
        "mem://doc",
        "T",
        ["Guide", "Install"],
        2,
        "aaa",
    )
    assert chunk.metadata == {"audience": "ops", "format": "markdown"}
    # a new content hash, another document id or other chunking settings give new ids
    assert (
        chunker.chunk(_doc([Section("Same.")], "a.md", "bbb"))[0].id
        != chunker.chunk(_doc([Section("Same.")], "a.md", "aaa"))[0].id
    )
    assert (
        chunker.chunk(_doc([Section("Same.")], "b.md", "aaa"))[0].id
        != chunker.chunk(_doc([Section("Same.")], "a.md", "aaa"))[0].id
    )
    other = Chunker(chunker.count_tokens, chunker.max_tokens, overlap_tokens=0, embedder_name=chunker.embedder_name)
    assert other.chunk_id("a.md", "aaa", 0) != chunker.chunk_id("a.md", "aaa", 0)


def test_demo_corpus_chunks_fit(chunker: Chunker, embedder: SentenceTransformerEmbedder) -> None:
    from retrieval.ingest import DEMO_CORPUS
    from retrieval.loaders import discover

    total = 0
    for found in discover([DEMO_CORPUS]):
        for doc in load_file(found.path):
            for chunk in chunker.chunk(doc):
                assert embedder.count_tokens(chunk.text) <= chunker.budget
                assert doc.text[chunk.start : chunk.end] == chunk.text
                total += 1
    assert total > 50


def test_works_with_any_embedder_tokenizer(tmp_path: Path) -> None:
    """The chunker only needs `count_tokens` and `max_tokens` (here a model-free whitespace counter)."""
    fake = HashEmbedder(max_tokens=40)
    chunker = Chunker.for_embedder(fake, margin_tokens=4, overlap_tokens=6)
    path = tmp_path / "doc.md"
    path.write_text("# H\n\n" + _prose(5, 10), encoding="utf-8")
    doc = load_file(path)[0]
    chunks = chunker.chunk(doc)
    assert len(chunks) > 5
    assert all(fake.count_tokens(c.text) <= 36 for c in chunks)
