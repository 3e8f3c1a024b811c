"""Training pairs: positives (generated questions and cheap weak pairs), hard negatives, the split by document.

- Weak pairs come from the structure of the documents: a section's heading is a query for its text (with a
  generic heading such as "Examples" prefixed by its parent heading or the page title), and a heading that
  is a question (FAQ pages) is a query for its answer. The heading is stripped from the positive's text so
  the pair is not solved by copying it.
- Hard negatives are mined from the same corpus with BM25 and the bi-encoder (their top `depth`,
  interleaved), excluding every passage of the positive's document; `k` of them are sampled with a seeded
  generator (sampling instead of the very top lowers the odds of an unlabelled positive).
- Train and dev are split by document, so no document gives pairs to both.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Literal

from retrieval.training.corpus import Passage, leading_headings
from retrieval.training.index import PassageIndex
from retrieval.training.questions import QuestionRecord, words

PairKind = Literal["generated", "heading", "faq"]
Progress = Callable[[int, int], None]
GENERIC_HEADINGS = {
    "description", "examples", "example", "notes", "note", "synopsis", "parameters", "options", "see also",
    "compatibility", "outputs", "overview", "introduction", "usage", "details", "discussion", "summary",
    "configuration", "return value", "returns", "environment", "files", "bugs", "author", "authors", "name",
    "diagnostics", "exit status", "caveats", "limitations", "history", "commands", "functions",
    "classes", "methods", "attributes", "constants", "exceptions", "basic usage", "command line interface",
}  # fmt: skip
MIN_POSITIVE_WORDS = 20


@dataclass(frozen=True)
class Positive:
    query: str
    passage_id: str
    doc_id: str
    kind: PairKind
    text: str  # what the model is trained on (a weak pair's passage without its heading)


@dataclass
class Example:
    """One query with its positive passage and mined negatives; a training group."""

    query: str
    positive: str
    negatives: list[str]
    doc_id: str
    kind: PairKind
    passage_id: str = ""
    negative_ids: list[str] = field(default_factory=list)

    def pairs(self) -> list[tuple[str, str, float]]:
        """(query, passage, label) pairs for binary cross-entropy."""
        return [(self.query, self.positive, 1.0)] + [(self.query, n, 0.0) for n in self.negatives]


def heading_query(passage: Passage) -> tuple[str, PairKind] | None:
    """The weak query of a section's first passage: its heading (with context when generic), or an FAQ's
    question; None when the passage has no heading."""
    if not passage.opens_section or not passage.heading_path:
        return None
    heading = " ".join(passage.heading_path[-1].split())
    if not heading:
        return None
    if heading.endswith("?"):
        return heading, "faq"
    context = passage.heading_path[-2] if len(passage.heading_path) > 1 else passage.title
    if (heading.lower() in GENERIC_HEADINGS or len(words(heading)) < 2) and context and context != heading:
        return f"{context}: {heading}", "heading"
    return heading, "heading"


def weak_pairs(passages: Iterable[Passage], *, limit: int | None = None, seed: int = 0) -> list[Positive]:
    """Heading -> section and FAQ question -> answer pairs (one per distinct query), a seeded sample of `limit`."""
    out: list[Positive] = []
    seen: set[str] = set()
    for passage in passages:
        found = heading_query(passage)
        if found is None:
            continue
        query, kind = found
        _, text = leading_headings(passage.text, [*passage.heading_path, passage.title])
        key = " ".join(words(query))
        if key in seen or len(text.split()) < MIN_POSITIVE_WORDS:
            continue
        seen.add(key)
        out.append(Positive(query, passage.id, passage.doc_id, kind, text))
    if limit is not None and len(out) > limit:
        keep = set(random.Random(seed).sample(range(len(out)), limit))
        out = [p for i, p in enumerate(out) if i in keep]
    return out


def generated_positives(records: Iterable[QuestionRecord], index: PassageIndex) -> list[Positive]:
    return [
        Positive(r.question, r.passage_id, r.doc_id, "generated", index.passages[index.position[r.passage_id]].text)
        for r in records
        if r.kept
    ]


def negative_candidates(
    index: PassageIndex, query: str, query_vector: object, banned: AbstractSet[str], depth: int
) -> list[int]:
    """BM25 and bi-encoder top `depth`, interleaved and deduplicated, without the `banned` documents."""
    bm25, dense = index.bm25_top(query, depth), index.dense_top(query_vector, depth)
    out: list[int] = []
    for i in range(max(len(bm25), len(dense))):
        for ranking in (bm25, dense):
            if i < len(ranking) and ranking[i] not in out and index.passages[ranking[i]].doc_id not in banned:
                out.append(ranking[i])
    return out


def mine_negatives(
    positives: Sequence[Positive],
    index: PassageIndex,
    *,
    k: int,
    depth: int = 30,
    seed: int = 0,
    exclude_docs: AbstractSet[str] = frozenset(),
    progress: Progress | None = None,
) -> list[Example]:
    """Each positive with `k` hard negatives from other documents, never from `exclude_docs` (e.g. the dev
    documents, for training examples); random passages fill in when the corpus is too small for `k`."""
    rng = random.Random(seed)
    vectors = index.embed_queries([p.query for p in positives])
    examples: list[Example] = []
    for done, (positive, vector) in enumerate(zip(positives, vectors, strict=True), start=1):
        banned = {positive.doc_id, *exclude_docs}
        pool = negative_candidates(index, positive.query, vector, banned, depth)
        picked = sorted(rng.sample(pool, min(k, len(pool))), key=pool.index)
        if len(picked) < k:
            chosen = set(picked)
            others = [i for i, p in enumerate(index.passages) if p.doc_id not in banned and i not in chosen]
            picked += rng.sample(others, min(k - len(picked), len(others)))
        examples.append(
            Example(
                query=positive.query,
                positive=positive.text,
                negatives=[index.passages[i].text for i in picked],
                doc_id=positive.doc_id,
                kind=positive.kind,
                passage_id=positive.passage_id,
                negative_ids=[index.passages[i].id for i in picked],
            )
        )
        if progress:
            progress(done, len(positives))
    return examples


def split_documents(doc_ids: Iterable[str], dev_fraction: float, seed: int) -> tuple[set[str], set[str]]:
    """(train documents, dev documents): a seeded shuffle of the distinct documents, `dev_fraction` to dev
    (at least one when there are two or more documents and the fraction is above 0)."""
    docs = sorted(set(doc_ids))
    random.Random(seed).shuffle(docs)
    n_dev = 0
    if dev_fraction > 0 and len(docs) >= 2:
        n_dev = min(len(docs) - 1, max(1, round(dev_fraction * len(docs))))
    return set(docs[n_dev:]), set(docs[:n_dev])


def split_positives(
    positives: Sequence[Positive], dev_fraction: float, seed: int
) -> tuple[list[Positive], list[Positive], set[str]]:
    """(train positives, dev positives, dev documents), split by document."""
    _, dev_docs = split_documents((p.doc_id for p in positives), dev_fraction, seed)
    train = [p for p in positives if p.doc_id not in dev_docs]
    dev = [p for p in positives if p.doc_id in dev_docs]
    return train, dev, dev_docs
