"""`ragloop reranker train | make-dataset | eval`: ragloop's own cross-encoder reranker.

The recipe lives in `retrieval/training/`; this module supplies what retrieval must not import: the question
writer over the chat model (`ChatQuestionWriter`: the few-shot prompt of `retrieval.training.questions`,
a one-field JSON schema the local server enforces with a grammar). Progress goes to stderr, `--json` to
stdout. Heavy imports stay inside the command functions.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli.app import app
from agent.cli.common import print_json
from agent.cli.options import with_settings
from agent.settings import Settings

if TYPE_CHECKING:
    from agent.chat_client import ChatClient
    from retrieval.training.corpus import Passage
    from retrieval.training.recipe import Event
    from retrieval.training.train import Loss

reranker_app = typer.Typer(
    help="Train and evaluate ragloop's own cross-encoder reranker (offline, from documentation).",
    no_args_is_help=True,
)
app.add_typer(reranker_app, name="reranker")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (progress stays on stderr).")]
MODEL_FLAGS = ("model", "model_url", "api_key", "threads")  # the chat model that writes questions; threads
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="New or empty directory to write to.", show_default=False)]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of every sample, split and shuffle.")]
PassagesOpt = Annotated[int, typer.Option("--passages", min=2, help="Passages sampled from the corpus (in all).")]
PerDocOpt = Annotated[int, typer.Option("--per-doc", min=1, help="At most this many passages per document.")]


class ChatQuestionWriter:
    """`QuestionWriter` over a chat model: one grammar-constrained question per passage (None if unusable)."""

    def __init__(self, client: ChatClient, max_tokens: int = 96) -> None:
        self.client = client
        self.max_tokens = max_tokens
        self.schema = question_schema()

    def write(self, passage: Passage) -> str | None:
        from agent.errors import ModelOutputError
        from retrieval.training.questions import question_messages

        try:
            reply = self.client.structured(question_messages(passage), self.schema, max_tokens=self.max_tokens)
        except ModelOutputError:
            return None
        return str(reply.question)


def question_schema() -> Any:
    """The pydantic model of the writer's reply: one `question` matching `QUESTION_PATTERN`."""
    from pydantic import BaseModel, Field

    from retrieval.training.questions import QUESTION_PATTERN

    class GeneratedQuestion(BaseModel):
        question: str = Field(pattern=QUESTION_PATTERN, description="One question the passage answers.")

    return GeneratedQuestion


@contextlib.contextmanager
def question_writer(settings: Settings) -> Iterator[ChatQuestionWriter]:
    """The writer over the settings' model endpoint (the local server is started when no --model-url)."""
    from agent.chat_client import ChatClient
    from agent.cli.wiring import model_endpoints

    with model_endpoints(settings, judge=False) as (endpoint, _):
        client = ChatClient(endpoint.base_url, endpoint.model, api_key=endpoint.api_key)
        try:
            yield ChatQuestionWriter(client)
        finally:
            client.close()


class StageBars:
    """Renders recipe events on stderr: one tqdm bar per stage, notes as lines."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.stage = ""

    def __call__(self, event: Event) -> None:
        from tqdm import tqdm

        if event.message:
            self.write(f"{event.stage}: {event.message}")
            return
        if event.stage != self.stage or self.bar is None:
            self.close()
            self.stage = event.stage
            self.bar = tqdm(desc=event.stage, total=event.total or None, file=_stderr(), leave=True, dynamic_ncols=True)
        if event.total:
            self.bar.total = event.total
            self.bar.n = event.done
            self.bar.refresh()

    def write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=_stderr())

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _stderr() -> Any:
    import sys

    return sys.stderr


def _echo(message: str) -> None:
    typer.echo(message, err=True)


def _command(*parts: Any) -> str:
    """The exact command line, every option spelled out (defaults can change; the card must not)."""
    words: list[str] = ["ragloop", "reranker"]
    for part in parts:
        if part is None or part is False:
            continue
        words += [str(p) for p in part] if isinstance(part, tuple) else [str(part)]
    return shlex.join(words)


def collection_passages(settings: Settings, name: str) -> list[Passage]:
    from agent.cli.wiring import open_settings_store
    from retrieval.errors import RetrievalError
    from retrieval.manifest import current_chunk_ids
    from retrieval.training.corpus import passages_from_chunks

    with open_settings_store(settings) as store:
        collection = store.get_collection(name)
        visible = current_chunk_ids(store, name)
        chunks = collection.get(ids=sorted(visible)) if visible is not None else collection.get()
    passages = passages_from_chunks(chunks, corpus=name)
    if len({p.doc_id for p in passages}) < 2:
        raise RetrievalError(
            f"Collection {name!r} has {len(passages)} passage(s) long enough to train on, from fewer than two "
            f"documents: ingest more documents first (`ragloop ingest PATH --collection {name}`)."
        )
    return passages


def loss_name(value: str) -> Loss:
    from retrieval.training.train import LOSSES

    for name in LOSSES:
        if value == name:
            return name
    raise typer.BadParameter(f"{value!r} is not a loss: use one of {', '.join(LOSSES)}", param_hint="--loss")


@reranker_app.command("train")
@with_settings("models", only=MODEL_FLAGS)
def train(
    settings: Settings,
    out: OutOpt,
    corpus: Annotated[
        list[str] | None,
        typer.Option(
            "--corpus",
            help="python | postgres | a directory of documents; repeat to combine. git is held out for evaluation.",
        ),
    ] = None,
    collection: Annotated[
        str | None,
        typer.Option("--collection", "-c", help="Train on an ingested collection instead (domain adaptation)."),
    ] = None,
    passages: PassagesOpt = 4000,
    per_doc: PerDocOpt = 12,
    questions: Annotated[int, typer.Option("--questions", min=0, help="Passages to write a question for.")] = 800,
    weak_pairs: Annotated[int, typer.Option("--weak-pairs", min=0, help="At most this many heading/FAQ pairs.")] = 1200,
    filter_top: Annotated[
        int, typer.Option("--filter-top", min=1, help="Keep a question if BM25 or dense ranks its passage this high.")
    ] = 20,
    negatives: Annotated[int, typer.Option("--negatives", min=1, help="Hard negatives per positive.")] = 4,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Passes over the training pairs.")] = 1,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Groups (query + positive + negatives) per optimizer step.")
    ] = 4,
    max_length: Annotated[
        int, typer.Option("--max-length", min=16, max=512, help="Word pieces of query + passage.")
    ] = 256,
    learning_rate: Annotated[float, typer.Option("--lr", min=0.0, help="Encoder's peak learning rate (AdamW).")] = 5e-5,
    head_learning_rate: Annotated[
        float, typer.Option("--head-lr", min=0.0, help="The new classification head's peak learning rate.")
    ] = 2e-3,
    loss: Annotated[
        str, typer.Option("--loss", help="listwise (softmax over each group) | bce (pointwise binary cross-entropy).")
    ] = "listwise",
    dev_fraction: Annotated[
        float, typer.Option("--dev-fraction", min=0.0, max=0.9, help="Documents held out as dev.")
    ] = 0.1,
    seed: SeedOpt = 0,
    question_minutes: Annotated[
        float | None, typer.Option("--question-minutes", min=0.1, help="Stop writing questions after this long.")
    ] = None,
    train_minutes: Annotated[
        float | None,
        typer.Option("--train-minutes", min=0.1, help="Training time budget: steps and LR decay are fitted to it."),
    ] = None,
    onnx: Annotated[bool, typer.Option("--onnx/--no-onnx", help="Also export ONNX fp32 and int8.")] = True,
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Starting weights (path) [default: bundled all-MiniLM-L6-v2].")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Train a cross-encoder on documentation: synthetic questions, weak pairs, hard negatives, listwise loss.

    Writes the torch model, ONNX fp32/int8, SHA256SUMS, training_report.json and model_card.md into --out.
    Example: ragloop reranker train --corpus postgres --out models/reranker-pg
    """
    from retrieval.training.artifacts import prepare_out_dir
    from retrieval.training.corpus import resolve_corpus, sample_passages
    from retrieval.training.recipe import PassageSource, RecipeOptions, corpus_source, run_recipe
    from retrieval.training.train import TrainOptions

    if bool(corpus) == bool(collection):
        raise typer.BadParameter("give --corpus (one or more) or --collection, not both and not neither")
    source: PassageSource
    if corpus:
        specs = [resolve_corpus(name, for_training=True) for name in corpus]
        source = corpus_source(specs, max_per_doc=per_doc, limit=passages, seed=seed)
        sources = [f"{s.name} ({s.package or s.root})" for s in specs]
    else:
        assert collection is not None
        loaded = sample_passages(collection_passages(settings, collection), passages, seed)
        source = lambda _chunker, _progress: loaded  # noqa: E731 - already loaded from the store
        sources = [f"collection {collection}"]
    prepare_out_dir(out)  # fails before any model starts
    options = RecipeOptions(
        seed=seed,
        questions=questions,
        weak_pairs=weak_pairs,
        filter_top=filter_top,
        negatives=negatives,
        dev_fraction=dev_fraction,
        question_minutes=question_minutes,
        base_model=base_model,
        onnx=onnx,
        train=TrainOptions(
            epochs=epochs,
            batch_size=batch_size,
            max_length=max_length,
            learning_rate=learning_rate,
            head_learning_rate=head_learning_rate,
            loss=loss_name(loss),
            seed=seed,
            max_minutes=train_minutes,
            threads=settings.models.threads,
        ),
    )
    command = _command(
        "train",
        *(("--corpus", c) for c in corpus or []),
        collection and ("--collection", collection),
        ("--out", out),
        ("--passages", passages, "--per-doc", per_doc, "--questions", questions, "--weak-pairs", weak_pairs),
        ("--filter-top", filter_top, "--negatives", negatives, "--epochs", epochs, "--batch-size", batch_size),
        ("--max-length", max_length, "--lr", learning_rate, "--head-lr", head_learning_rate, "--loss", loss),
        ("--dev-fraction", dev_fraction, "--seed", seed),
        question_minutes and ("--question-minutes", question_minutes),
        train_minutes and ("--train-minutes", train_minutes),
        not onnx and "--no-onnx",
        base_model and ("--base-model", base_model),
        ("--model", settings.models.model),
        settings.models.threads and ("--threads", settings.models.threads),
    )
    bars = StageBars()
    try:
        with question_writer(settings) as writer:
            report = run_recipe(
                source,
                writer,
                out,
                options,
                command=command,
                sources=sources,
                question_model=settings.models.model,
                listener=bars,
            )
    finally:
        bars.close()
    if json_out:
        print_json(report)
        return
    counts, dev = report["counts"], report["dev"]
    typer.echo(f"model written to {out} in {report['total_minutes']} min")
    typer.echo(
        f"passages {counts['passages']} from {counts['documents']} documents; questions kept "
        f"{counts['questions_kept']}/{counts['questions_asked']}; weak pairs {counts['weak_pairs']}; "
        f"train pairs {counts['train_pairs']}"
    )
    if dev.get("queries"):
        typer.echo(
            f"dev ({dev['queries']} queries): MRR@10 hybrid {dev['hybrid_mrr@10']:.4f} -> "
            f"hybrid + rerank {dev['rerank_mrr@10']:.4f}"
        )
    typer.echo(f"next: ragloop reranker eval {out} --dataset BEIR_DIR")


@reranker_app.command("make-dataset")
@with_settings("models", only=MODEL_FLAGS)
def make_dataset(
    settings: Settings,
    out: OutOpt,
    corpus: Annotated[
        str, typer.Option("--corpus", help="git (held out) | python | postgres | a directory.", show_default=False)
    ],
    queries: Annotated[int, typer.Option("--queries", min=1, help="Questions to keep.")] = 50,
    passages: PassagesOpt = 3000,
    per_doc: PerDocOpt = 12,
    filter_top: Annotated[
        int | None,
        typer.Option("--filter-top", min=1, help="Also require BM25 or dense to rank the passage this high (biased)."),
    ] = None,
    seed: SeedOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Build a BEIR-format test set from a corpus with synthetic questions.

    Writes corpus.jsonl, queries.jsonl and qrels/test.tsv (the passage each question was written from).
    Example, the held-out git documentation: ragloop reranker make-dataset --corpus git --out data/git-beir
    """
    from retrieval.chunking import Chunker
    from retrieval.embedder import SentenceTransformerEmbedder
    from retrieval.training.artifacts import prepare_out_dir
    from retrieval.training.corpus import load_passages, resolve_corpus
    from retrieval.training.heldout import build_heldout_dataset

    spec = resolve_corpus(corpus, for_training=False)
    prepare_out_dir(out)
    embedder = SentenceTransformerEmbedder()
    _echo(f"loading the {spec.name} corpus from {spec.root}…")
    loaded = load_passages(spec, Chunker.for_embedder(embedder), max_per_doc=per_doc, limit=passages, seed=seed)
    command = _command(
        "make-dataset",
        ("--corpus", corpus, "--out", out, "--queries", queries, "--passages", passages, "--per-doc", per_doc),
        filter_top and ("--filter-top", filter_top),
        ("--seed", seed, "--model", settings.models.model),
    )
    bars = StageBars()
    try:
        with question_writer(settings) as writer:
            meta = build_heldout_dataset(
                loaded,
                writer,
                out,
                queries=queries,
                seed=seed,
                filter_top=filter_top,
                embedder=embedder,
                corpus_name=spec.name,
                question_model=settings.models.model,
                command=command,
                progress=lambda done, total: bars(_event("questions kept", done, total)),
            )
    finally:
        bars.close()
    if json_out:
        print_json(meta)
        return
    typer.echo(
        f"dataset written to {out}: {meta['queries']} queries ({meta['questions_asked']} asked), "
        f"{meta['passages']} passages from {meta['documents']} documents"
    )


def _event(stage: str, done: int, total: int) -> Event:
    from retrieval.training.recipe import Event

    return Event(stage, done, total)


@reranker_app.command("eval")
@with_settings("retrieval", only=("rerank_weight",))
def eval_command(
    settings: Settings,
    model_dir: Annotated[Path, typer.Argument(help="A trained reranker directory (the --out of `train`).")],
    dataset: Annotated[
        Path, typer.Option("--dataset", help="BEIR directory (corpus.jsonl, queries.jsonl, qrels/test.tsv).")
    ],
    candidates: Annotated[int, typer.Option("--candidates", min=1, help="Hybrid candidates reranked.")] = 30,
    int8: Annotated[bool, typer.Option("--int8/--no-int8", help="Also evaluate the ONNX int8 model.")] = True,
    latency_queries: Annotated[int, typer.Option("--latency-queries", min=1, help="Queries timed.")] = 10,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="Save the result in MODEL_DIR/eval/ and its model card.")
    ] = True,
    json_out: JsonOpt = False,
) -> None:
    """Compare BM25, dense, hybrid and hybrid + this reranker on a BEIR set.

    Prints nDCG@10, Recall@5 and MRR@10 per system and the rerank latency of the candidates on torch fp32 vs
    ONNX int8; the result is saved in MODEL_DIR/eval/ and shown in its model card.
    Example: ragloop reranker eval models/reranker-pg --dataset data/git-beir
    """
    from retrieval.reranker import SHIPPED_RERANK_WEIGHT
    from retrieval.training import artifacts
    from retrieval.training.evaluation import compare_rerankers, render_table

    weight = settings.retrieval.rerank_weight
    weight = SHIPPED_RERANK_WEIGHT if weight is None else weight
    result = compare_rerankers(
        model_dir,
        dataset,
        candidates=candidates,
        int8=int8,
        latency_queries=latency_queries,
        rerank_weight=weight,
        progress=_echo,
    )
    result["command"] = _command(
        "eval",
        model_dir,
        ("--dataset", dataset, "--candidates", candidates, "--rerank-weight", weight),
        not int8 and "--no-int8",
    )
    if record:
        artifacts.write_json(model_dir / artifacts.EVAL_DIR / f"{result['dataset']}.json", result)
        if (model_dir / artifacts.REPORT).is_file():
            artifacts.write_model_card(model_dir)
    if json_out:
        print_json(result)
    else:
        typer.echo(render_table(result))


@reranker_app.command("package")
def package(
    model_dir: Annotated[Path, typer.Argument(help="A trained reranker directory (the --out of `train`).")],
    out: OutOpt,
) -> None:
    """Copy the shippable part of a trained model (ONNX int8, config, tokenizer, card) with a new SHA256SUMS.

    Example, the model the project ships: ragloop reranker package build/reranker --out retrieval/data/reranker
    """
    from retrieval.training.shipped import package_for_shipping

    files = package_for_shipping(model_dir, out)
    size = sum((out / name).stat().st_size for name in files) / 1e6
    typer.echo(f"{len(files)} files ({size:.1f} MB) and their SHA256SUMS written to {out}")
