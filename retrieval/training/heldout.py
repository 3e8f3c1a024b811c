"""A BEIR-format test set from a corpus and synthetic questions, for corpora without human judgments.

    OUT/corpus.jsonl        every passage: {"_id", "title", "text", "doc_id"}
    OUT/queries.jsonl       the kept questions: {"_id", "text"}
    OUT/qrels/test.tsv      query-id, corpus-id (the passage the question was written from), 1
    OUT/dataset.json        how it was made (corpus, seed, writer, counts, filter); questions.jsonl: all of them

Questions are written for a seeded sample of passages until `queries` pass the quality checks of
`questions.question_problem`. The round-trip filter of the training recipe is off by default here
(`filter_top=None`): keeping only questions that BM25 or the bi-encoder already answer would favour
exactly the systems under test.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from retrieval.errors import RetrievalError
from retrieval.training import artifacts
from retrieval.training.corpus import Passage
from retrieval.training.index import PassageIndex
from retrieval.training.questions import QuestionRecord, QuestionWriter, filter_by_rank, generate_questions, words
from retrieval.types import Embedder

Progress = Callable[[int, int], None]  # (queries kept, queries wanted)


def build_heldout_dataset(
    passages: list[Passage],
    writer: QuestionWriter,
    out_dir: Path,
    *,
    queries: int = 50,
    seed: int = 0,
    filter_top: int | None = None,
    embedder: Embedder | None = None,
    corpus_name: str = "",
    question_model: str = "",
    command: str = "",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the dataset into `out_dir` (new or empty); returns what `dataset.json` holds."""
    out_dir = artifacts.prepare_out_dir(out_dir)
    if len(passages) < 2:
        raise RetrievalError(f"The corpus gave {len(passages)} passage(s); a test set needs more.")
    started = time.perf_counter()
    index = None
    if filter_top is not None:
        from retrieval.embedder import SentenceTransformerEmbedder

        index = PassageIndex.build(passages, embedder or SentenceTransformerEmbedder())
    order = list(range(len(passages)))
    random.Random(seed).shuffle(order)
    records: list[QuestionRecord] = []
    kept: list[QuestionRecord] = []
    seen: set[str] = set()
    for i in order:
        if len(kept) >= queries:
            break
        record = generate_questions([passages[i]], writer)[0]
        key = " ".join(words(record.question))
        if record.kept and key in seen:
            record.kept, record.reason = False, "duplicate"
        seen.add(key)
        if record.kept and index is not None:
            filter_by_rank([record], index, filter_top or 0)
        records.append(record)
        if record.kept:
            kept.append(record)
        if progress:
            progress(len(kept), queries)
    if not kept:
        raise RetrievalError("No question passed the checks, so the test set would be empty; try another model.")
    artifacts.write_jsonl(
        out_dir / "corpus.jsonl",
        ({"_id": p.id, "title": p.title, "text": p.text, "doc_id": p.doc_id} for p in passages),
    )
    ids = {id(r): f"q{n:04d}" for n, r in enumerate(kept, start=1)}
    artifacts.write_jsonl(out_dir / "queries.jsonl", ({"_id": ids[id(r)], "text": r.question} for r in kept))
    qrels = ["query-id\tcorpus-id\tscore\n"] + [f"{ids[id(r)]}\t{r.passage_id}\t1\n" for r in kept]
    (out_dir / "qrels").mkdir(exist_ok=True)
    (out_dir / "qrels" / "test.tsv").write_text("".join(qrels), encoding="utf-8")
    artifacts.write_jsonl(out_dir / "questions.jsonl", (r.as_dict() for r in records))
    meta: dict[str, Any] = {
        "corpus": corpus_name,
        "command": command,
        "seed": seed,
        "question_model": question_model,
        "filter_top": filter_top,
        "passages": len(passages),
        "documents": len({p.doc_id for p in passages}),
        "questions_asked": len(records),
        "queries": len(kept),
        "keep_rate": round(len(kept) / len(records), 3),
        "seconds_per_question": round(sum(r.seconds for r in records) / len(records), 2),
        "minutes": round((time.perf_counter() - started) / 60, 2),
    }
    artifacts.write_json(out_dir / "dataset.json", meta)
    return meta
