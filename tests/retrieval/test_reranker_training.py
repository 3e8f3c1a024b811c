"""The reranker recipe: question filters, weak pairs, hard negatives, the split by document, corpora, the
SHA256SUMS check of a model directory, the recipe in-process (deterministic question writer) and
`ragloop reranker train | make-dataset | eval` end to end with the real small model."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from reranker_training_support import TOPICS, write_tiny_corpus
from typer.testing import CliRunner

from agent.cli import app
from retrieval.beir import load_beir
from retrieval.chunking import Chunker
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.errors import RetrievalError
from retrieval.reranker import SHIPPED_RERANKER, build_reranker
from retrieval.training import corpus as corpus_module
from retrieval.training import shipped as shipped_module
from retrieval.training.corpus import CorpusSpec, Passage, load_passages, resolve_corpus
from retrieval.training.index import PassageIndex
from retrieval.training.pairs import (
    Example,
    Positive,
    heading_query,
    mine_negatives,
    split_documents,
    split_positives,
    weak_pairs,
)
from retrieval.training.questions import QuestionRecord, filter_by_rank, generate_questions, question_problem
from retrieval.training.recipe import RecipeOptions, corpus_source, run_recipe
from retrieval.training.shipped import (
    MANIFEST,
    load_verified_reranker,
    shipped_reranker_dir,
    verify_model_dir,
    write_manifest,
)
from retrieval.training.testing import KeywordQuestionWriter
from retrieval.training.train import (
    Loss,
    ModelReranker,
    TrainOptions,
    fit_steps,
    new_cross_encoder,
    train_cross_encoder,
)

RAGLOOP = [sys.executable, "-c", "from agent.cli import main; main()"]
SMALL_MODEL = "smollm2-135m"
TINY_TRAIN = TrainOptions(batch_size=8, max_length=128)


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_corpus(tmp_path_factory.mktemp("tiny-corpus") / "docs")


@pytest.fixture(scope="module")
def tiny_passages(tiny_corpus: Path, embedder: SentenceTransformerEmbedder) -> list[Passage]:
    spec = resolve_corpus(str(tiny_corpus), for_training=True)
    return load_passages(spec, Chunker.for_embedder(embedder), max_per_doc=5)


@pytest.fixture(scope="module")
def tiny_index(tiny_passages: list[Passage], embedder: SentenceTransformerEmbedder) -> PassageIndex:
    return PassageIndex.build(tiny_passages, embedder)


def passage_about(passages: list[Passage], heading: str) -> Passage:
    return next(p for p in passages if p.heading_path and p.heading_path[-1] == heading)


# -- question filters --------------------------------------------------------------------------------------

PASSAGE = "The quick brown fox jumps over the lazy dog near the river bank every single morning before dawn."


@pytest.mark.parametrize(
    ("question", "problem"),
    [
        ("", "empty"),
        (None, "empty"),
        ("Why?", "too short"),
        ("What " + "very " * 40 + "long question is this?", "too long"),
        ("How do I keep partial files with rsync", "not a question"),
        ("What is rsync? And what is scp?", "several questions"),
        ("What does the passage say about foxes?", "mentions the passage"),
        ("Which tool is described in this section?", "mentions the passage"),
        ("According to the text, when does the fox jump?", "mentions the passage"),
        ("How does the fox jump in nginx?", "borrows from the examples"),
        ("How is the text search parser removed in the context of foxes?", None),
        ("The quick brown fox jumps over the lazy dog near the river?", "copies the passage"),
        ("When does the fox jump over the dog?", None),
        ("Where does the lazy dog sleep while the fox jumps?", None),
    ],
)
def test_question_quality_checks(question: str | None, problem: str | None) -> None:
    assert question_problem(question, PASSAGE) == problem


def test_generated_questions_are_checked_and_deduplicated(tiny_passages: list[Passage]) -> None:
    first, second, third, fourth = tiny_passages[:4]
    writer = KeywordQuestionWriter(
        script={
            first.id: None,
            second.id: "How often is a sourdough starter fed?",
            third.id: "How often is a  sourdough starter FED?",  # the same question, other spacing and case
            fourth.id: "What does this passage describe?",
        }
    )
    records = generate_questions([first, second, third, fourth], writer)
    assert writer.calls == 4
    assert [(r.kept, r.reason) for r in records] == [
        (False, "empty"),
        (True, ""),
        (False, "duplicate"),
        (False, "mentions the passage"),
    ]


def test_round_trip_filter_keeps_questions_whose_passage_ranks_high(
    tiny_passages: list[Passage], tiny_index: PassageIndex
) -> None:
    chain = passage_about(tiny_passages, "Chain maintenance")
    records = [
        QuestionRecord(chain.id, chain.doc_id, "How do I clean and lubricate a bicycle chain?", kept=True),
        QuestionRecord(chain.id, chain.doc_id, "At what temperature should green tea be steeped?", kept=True),
        QuestionRecord(chain.id, chain.doc_id, "Already dropped?", kept=False, reason="too short"),
    ]
    filter_by_rank(records, tiny_index, top_n=1)
    good, off_topic, dropped = records
    assert good.kept and good.dense_rank == 1 and good.bm25_rank == 1
    assert not off_topic.kept and off_topic.reason == "source not in the BM25 or bi-encoder top 1"
    assert off_topic.dense_rank is not None and off_topic.dense_rank > 1
    assert dropped.reason == "too short" and dropped.dense_rank is None  # left alone


# -- pairs ---------------------------------------------------------------------------------------------------


def make_passage(heading_path: tuple[str, ...], text: str, *, opens: bool = True, title: str = "Guide") -> Passage:
    return Passage("p1", "guide.html", title, heading_path, text, opens_section=opens)


def test_weak_queries_from_headings_and_faq() -> None:
    body = "Use the --partial option to keep partially transferred files so a later transfer resumes quickly."
    assert heading_query(make_passage(("Transfers", "Resuming"), f"Resuming\n\n{body}")) == (
        "Transfers: Resuming",
        "heading",
    )
    assert heading_query(make_passage(("Examples",), body, title="CREATE INDEX")) == (
        "CREATE INDEX: Examples",
        "heading",
    )
    assert heading_query(make_passage(("Partial transfers",), body)) == ("Partial transfers", "heading")
    assert heading_query(make_passage(("How do I resume a transfer?",), body)) == ("How do I resume a transfer?", "faq")
    assert heading_query(make_passage(("Resuming",), body, opens=False)) is None  # not the section's start
    assert heading_query(make_passage((), body)) is None

    passage = make_passage(("How do I resume a transfer?",), f"How do I resume a transfer?\n\n{body} " * 2)
    (pair,) = weak_pairs([passage])
    assert pair.kind == "faq" and pair.query == "How do I resume a transfer?"
    assert pair.text.startswith("Use the --partial")  # the heading is stripped from the positive


def test_hard_negatives_never_come_from_the_positive_document(
    tiny_passages: list[Passage], tiny_index: PassageIndex
) -> None:
    positives = weak_pairs(tiny_passages)
    assert len(positives) >= 6
    by_id = {p.id: p for p in tiny_passages}
    examples = mine_negatives(positives, tiny_index, k=3, depth=10, seed=1)
    assert len(examples) == len(positives)
    for example in examples:
        assert len(example.negatives) == 3 == len(set(example.negative_ids))
        assert all(by_id[n].doc_id != example.doc_id for n in example.negative_ids)
        assert example.positive not in example.negatives
    # the hardest negative of a question about tea steeping is tea-like text from another document, not tea.md
    steeping = Positive("How hot should the water be for green tea?", "x", "tea.md", "generated", "")
    (tea,) = mine_negatives([steeping], tiny_index, k=4, depth=10, seed=0, exclude_docs={"bicycles.md"})
    assert {by_id[n].doc_id for n in tea.negative_ids}.isdisjoint({"tea.md", "bicycles.md"})
    again = mine_negatives(positives, tiny_index, k=3, depth=10, seed=1)
    assert [e.negative_ids for e in again] == [e.negative_ids for e in examples]  # seeded


def test_split_is_by_document() -> None:
    positives = [Positive(f"q{i}", f"p{i}", f"doc{i % 10}.html", "generated", "text") for i in range(60)]
    train, dev, dev_docs = split_positives(positives, 0.2, seed=3)
    assert len(dev_docs) == 2 and len(train) + len(dev) == 60
    assert {p.doc_id for p in dev} == dev_docs
    assert {p.doc_id for p in train}.isdisjoint(dev_docs)
    assert split_positives(positives, 0.2, seed=3)[2] == dev_docs  # deterministic
    assert split_documents(["a", "b"], 0.0, seed=0) == ({"a", "b"}, set())
    assert split_documents(["a"], 0.5, seed=0) == ({"a"}, set())  # one document: nothing to hold out


def test_time_budget_fits_the_steps_and_never_adds_any() -> None:
    assert fit_steps(planned=100, done=10, elapsed_s=10.0, remaining_s=20.0) == 30  # 1 s a step, 20 s left
    assert fit_steps(planned=100, done=10, elapsed_s=10.0, remaining_s=1000.0) == 100  # never more than planned
    assert fit_steps(planned=100, done=10, elapsed_s=10.0, remaining_s=-5.0) == 10  # out of time: stop now


# -- training ---------------------------------------------------------------------------------------------


def heading_groups(passages: list[Passage], index: PassageIndex, negatives: int) -> list[Example]:
    return mine_negatives(weak_pairs(passages), index, k=negatives, seed=0)


@pytest.mark.parametrize("loss", ["listwise", "bce"])
def test_training_learns_to_put_the_positive_first(
    tiny_passages: list[Passage], tiny_index: PassageIndex, loss: Loss
) -> None:
    """Both losses fit the tiny corpus's heading -> section groups: the loss falls and every query's positive
    ends up above its hard negatives (before training the fresh head ranks them by chance)."""
    groups = heading_groups(tiny_passages, tiny_index, negatives=3)
    assert len(groups) == 12
    model = new_cross_encoder(None, max_length=128)
    options = TrainOptions(epochs=8, batch_size=4, max_length=128, loss=loss, seed=0)
    result = train_cross_encoder(model, groups, options)
    assert result.steps == result.steps_planned == 24 and result.pairs == 12 * 4
    assert result.loss_first is not None and result.loss_last is not None
    assert result.loss_last < 0.8 * result.loss_first, result.losses
    reranker = ModelReranker(model)
    for group in groups:
        positive, *others = reranker.score(group.query, [group.positive, *group.negatives])
        assert positive > max(others), group.query


def test_listwise_loss_takes_groups_of_unequal_size(tiny_passages: list[Passage], tiny_index: PassageIndex) -> None:
    groups = heading_groups(tiny_passages, tiny_index, negatives=3)[:4]
    groups[0].negatives = groups[0].negatives[:1]  # a query with fewer negatives than the others
    groups[1].negatives = []  # nothing to rank against: left out of the listwise loss
    model = new_cross_encoder(None, max_length=64)
    result = train_cross_encoder(model, groups, TrainOptions(batch_size=4, max_length=64))
    assert result.steps == 1 and result.pairs == 2 + 4 + 4
    assert all(math.isfinite(v) for v in result.losses)


# -- corpora ---------------------------------------------------------------------------------------------------


def test_held_out_and_missing_corpora_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RetrievalError, match="held out for evaluation"):
        resolve_corpus("git", for_training=True)
    git_howto = corpus_module.KNOWN_CORPORA["git"].root / "howto"
    if git_howto.is_dir():  # a directory inside the held-out corpus is refused too
        with pytest.raises(RetrievalError, match="held out for evaluation"):
            resolve_corpus(str(git_howto), for_training=True)
    with pytest.raises(RetrievalError, match="No corpus 'nope'"):
        resolve_corpus("nope", for_training=True)
    missing = CorpusSpec("python", tmp_path / "not-installed", "python3.11-doc")
    monkeypatch.setitem(corpus_module.KNOWN_CORPORA, "python", missing)
    with pytest.raises(RetrievalError, match=r"apt-get install python3.11-doc"):
        resolve_corpus("python", for_training=True)


SPHINX_PAGE = """<html><head><title>shelve — Python object persistence — Python 3.11.2 documentation</title></head>
<body><div class="related" role="navigation"><a href="x">previous</a> | <a href="y">next</a></div>
<div class="document"><div class="body" role="main">
<h1>shelve — Python object persistence<a class="headerlink" href="#s">¶</a></h1>
<p>A shelf is a persistent, dictionary-like object. The values in a shelf can be essentially arbitrary Python
objects, anything that the pickle module can handle, while the keys are ordinary strings.</p>
<h2>Restrictions<a class="headerlink" href="#r">¶</a></h2>
<p>The choice of which database package will be used depends on which interface is available, so it is not
safe to open the database directly with dbm, and concurrent writes from several processes are unsupported.</p>
</div></div>
<div class="sphinxsidebar" role="navigation"><h3>Previous topic</h3><p>copyreg — Register pickle support
functions for several modules that need them when they pickle objects of extension types defined here.</p></div>
<div class="footer">© Copyright 2001-2026, Python Software Foundation. Licensed under the PSF license.</div>
</body></html>"""


def test_html_pages_lose_their_navigation(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "shelve.html").write_text(SPHINX_PAGE, encoding="utf-8")
    (tmp_path / "genindex.html").write_text(SPHINX_PAGE, encoding="utf-8")
    spec = CorpusSpec("py", tmp_path, include=("*.html",), exclude=("genindex*",))
    passages = load_passages(spec, Chunker.for_embedder(embedder))
    assert [p.doc_id for p in passages] == ["library/shelve.html", "library/shelve.html"]
    assert passages[0].title == "shelve — Python object persistence"
    assert passages[1].heading_path == ("shelve — Python object persistence", "Restrictions")
    text = " ".join(p.text for p in passages)
    assert "Previous topic" not in text and "Copyright" not in text and "¶" not in text and "next" not in text


# -- shipped model directories ---------------------------------------------------------------------------


def test_manifest_refuses_missing_and_corrupted_files(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "onnx").mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights" * 100)
    (model / "onnx" / "model_quint8_avx2.onnx").write_bytes(b"int8 weights")
    (model / "config.json").write_text("{}")
    (model / "model_card.md").write_text("notes that may change")
    with pytest.raises(RetrievalError, match=r"no SHA256SUMS manifest.*ragloop reranker train"):
        verify_model_dir(model)
    write_manifest(model)
    listed = (model / MANIFEST).read_text()
    assert "model_card.md" not in listed and "  onnx/model_quint8_avx2.onnx\n" in listed
    assert sorted(verify_model_dir(model)) == ["config.json", "model.safetensors", "onnx/model_quint8_avx2.onnx"]

    (model / "model_card.md").write_text("edited after training: fine")
    verify_model_dir(model)
    (model / "onnx" / "model_quint8_avx2.onnx").write_bytes(b"int8 weightz")
    with pytest.raises(RetrievalError, match=r"model_quint8_avx2.onnx is corrupted.*git checkout"):
        verify_model_dir(model)
    (model / "onnx" / "model_quint8_avx2.onnx").unlink()
    with pytest.raises(RetrievalError, match=r"model_quint8_avx2.onnx \(listed in SHA256SUMS\) is missing"):
        load_verified_reranker(model)
    (model / MANIFEST).write_text("not a manifest line\n")
    with pytest.raises(RetrievalError, match=r"SHA256SUMS:1 is not a"):
        verify_model_dir(model)
    assert shipped_reranker_dir(tmp_path / "nothing-shipped") is None


SHIPPED_PAIRS = [
    ("How do I undo the last commit but keep its changes?", "git reset --soft HEAD~1 moves the branch back one "
     "commit and leaves the changes of that commit staged in the index.", "The kettle boils water for tea."),
    ("Which index type suits full-text search in PostgreSQL?", "GIN indexes are the preferred text search index "
     "type: they store an entry for each lexeme, so a query on tsvector columns is fast.",
     "Bicycle chains need a drop of lubricant on each roller."),
    ("How do I read a JSON file in Python?", "json.load(fp) deserializes a text file containing a JSON document "
     "to a Python object, using the conversion table.", "A sourdough starter is fed with flour and water."),
]  # fmt: skip


@pytest.mark.skipif(shipped_reranker_dir() is None, reason="no reranker is shipped yet (retrieval/data/reranker)")
def test_the_shipped_reranker_loads_offline_and_ranks_relevant_passages_first() -> None:
    reranker = build_reranker(SHIPPED_RERANKER, "onnx-int8")  # verified against SHA256SUMS, then loaded
    assert reranker.name == "ragloop-reranker@onnx-int8"
    for query, relevant, irrelevant in SHIPPED_PAIRS:
        good, bad = reranker.score(query, [relevant, irrelevant])
        assert good > bad, query


def test_the_shipped_reranker_name_needs_its_int8_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RetrievalError, match="ships as ONNX int8 only; use --rerank-backend onnx-int8"):
        build_reranker(SHIPPED_RERANKER, "torch")
    monkeypatch.setattr(shipped_module, "SHIPPED_DIR", tmp_path / "none")
    with pytest.raises(RetrievalError, match="ships no ragloop-reranker"):
        build_reranker(SHIPPED_RERANKER, "onnx-int8")


# -- the recipe --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_dir(
    tiny_corpus: Path, embedder: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The recipe run in-process on the tiny corpus with the deterministic writer (no ONNX: the CLI test has it)."""
    out = tmp_path_factory.mktemp("recipe") / "model"
    source = corpus_source([resolve_corpus(str(tiny_corpus), for_training=True)], max_per_doc=5, limit=None, seed=0)
    options = RecipeOptions(questions=12, negatives=2, filter_top=3, dev_fraction=0.2, onnx=False, train=TINY_TRAIN)
    events: list[str] = []
    run_recipe(source, KeywordQuestionWriter(), out, options, embedder=embedder, command="ragloop reranker train …",
               listener=lambda e: events.append(e.stage))  # fmt: skip
    stages = list(dict.fromkeys(events))
    assert stages == ["corpus", "index", "questions", "filter", "pairs", "negatives", "train", "dev", "save"]
    return out


def test_recipe_writes_a_loadable_verified_model_and_its_report(trained_dir: Path) -> None:
    report = json.loads((trained_dir / "training_report.json").read_text())
    counts = report["counts"]
    assert counts["passages"] == 12 and counts["documents"] == len(TOPICS)
    assert counts["questions_asked"] == 12 and counts["questions_kept"] == 12 and counts["keep_rate"] == 1.0
    assert counts["weak_pairs"] == 12 and counts["dev_documents"] == 1
    assert counts["train_pairs"] == counts["train_examples"] * 3  # a positive and two negatives each
    assert report["training"]["steps"] == report["training"]["steps_planned"] > 0
    assert report["dev"]["queries"] == 2 and set(report["minutes"]) >= {"corpus", "questions", "train", "save"}
    assert "ragloop reranker train" in (trained_dir / "model_card.md").read_text()
    questions = [
        json.loads(line) for line in (trained_dir / "training-data" / "questions.jsonl").read_text().splitlines()
    ]
    assert len(questions) == 12 and all(q["bm25_rank"] == 1 for q in questions)
    assert "model.safetensors" in verify_model_dir(trained_dir)
    scores = load_verified_reranker(trained_dir).score("tea", ["Green tea leaves are steeped.", "Chains."])
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)


def test_recipe_refuses_a_used_output_directory(trained_dir: Path, tiny_corpus: Path) -> None:
    source = corpus_source([resolve_corpus(str(tiny_corpus), for_training=True)], max_per_doc=5, limit=None, seed=0)
    with pytest.raises(RetrievalError, match="is not empty"):
        run_recipe(source, KeywordQuestionWriter(), trained_dir, RecipeOptions(train=TINY_TRAIN))


# -- the CLI ---------------------------------------------------------------------------------------------------


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RAGLOOP, *args],
        env={**os.environ, "RAGLOOP_HOME": str(home), "RAGLOOP_MODEL_URL": "http://127.0.0.1:9/v1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_train_cli_bad_input_gives_clean_errors(
    tmp_path: Path, tiny_corpus: Path, embedder: SentenceTransformerEmbedder
) -> None:
    from retrieval.ingest import ingest
    from retrieval.store import open_store

    with open_store(tmp_path) as store:  # a collection with a single document
        ingest(
            [tiny_corpus / "tea.md"], store=store, collection="one", embedder=embedder, home=tmp_path, progress=False
        )
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    (tmp_path / "a-file").write_text("x")
    cases = [
        (["--corpus", "git", "--out", str(tmp_path / "o1")], "held out for evaluation"),
        (["--corpus", str(tmp_path / "missing"), "--out", str(tmp_path / "o2")], "No corpus"),
        (["--corpus", str(tiny_corpus), "--out", str(tmp_path / "used")], "is not empty"),
        (["--corpus", str(tiny_corpus), "--out", str(tmp_path / "a-file" / "sub")], "is not writable"),
        (["--collection", "nope", "--out", str(tmp_path / "o3")], "nope"),
        (["--collection", "one", "--out", str(tmp_path / "o4")], "fewer than two documents"),
        (["--out", str(tmp_path / "o5")], "--corpus (one or more) or --collection"),
        (["--corpus", str(tiny_corpus), "--out", str(tmp_path / "o6"), "--loss", "mse"], "is not a loss"),
    ]
    for args, message in cases:
        done = cli(tmp_path, "reranker", "train", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o3").exists()


def test_collection_passages_for_domain_adaptation(
    tmp_path: Path, tiny_corpus: Path, embedder: SentenceTransformerEmbedder
) -> None:
    from agent.cli.reranker_cmd import collection_passages
    from agent.settings import Settings
    from retrieval.ingest import ingest
    from retrieval.store import open_store

    with open_store(tmp_path) as store:
        ingest([tiny_corpus], store=store, collection="mine", embedder=embedder, home=tmp_path, progress=False)
    passages = collection_passages(Settings(home=tmp_path), "mine")
    assert {p.doc_id.rsplit("/", 1)[-1] for p in passages} == {f"{name}.md" for name in TOPICS}
    chain = passage_about(passages, "Chain maintenance")
    assert chain.corpus == "mine" and chain.opens_section and chain.text.startswith("## Chain maintenance")
    pairs = weak_pairs(passages)  # headings survive the store: weak pairs work, without their heading lines
    assert len(pairs) >= len(TOPICS) and not any(p.text.startswith("#") for p in pairs)
    assert any(p.query == "Chain maintenance" and p.text.startswith("Clean the chain") for p in pairs)


@pytest.fixture(scope="module")
def small_model_url() -> Iterator[str]:
    from local_models.serve import serve

    # one thread: on a shared 2-core machine, two llama.cpp threads stall each other behind other jobs
    with serve(SMALL_MODEL, n_ctx=4096, threads=1) as url:
        yield url


@pytest.mark.slow
def test_train_make_dataset_and_eval_end_to_end(tmp_path: Path, tiny_corpus: Path, small_model_url: str) -> None:
    runner = CliRunner()
    flags = ["--model-url", small_model_url, "--model", SMALL_MODEL]
    out = tmp_path / "model"
    result = runner.invoke(
        app,
        ["reranker", "train", "--corpus", str(tiny_corpus), "--out", str(out), "--per-doc", "4", "--questions", "6",
         "--negatives", "2", "--batch-size", "8", "--max-length", "128", "--dev-fraction", "0.2", "--json", *flags],
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(result.stdout)
    assert report["counts"]["questions_asked"] == 6 and report["counts"]["train_pairs"] > 0
    assert report["question_model"] == SMALL_MODEL and "--questions 6" in report["command"]
    assert "train" in result.stderr  # progress on stderr
    for name in ("model.safetensors", "onnx/model.onnx", "onnx/model_quint8_avx2.onnx"):
        assert name in verify_model_dir(out)
    int8 = load_verified_reranker(out)
    assert int8.backend == "onnx" and len(int8.score("tea", ["Green tea.", "Chains."])) == 2

    dataset = tmp_path / "dataset"
    result = runner.invoke(
        app, ["reranker", "make-dataset", "--corpus", str(tiny_corpus), "--out", str(dataset), "--queries", "3",
              "--json", *flags],
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    meta = json.loads(result.stdout)
    data = load_beir(dataset)
    assert len(data.queries) == meta["queries"] >= 1 and data.documents == meta["passages"] == 12

    result = runner.invoke(app, ["reranker", "eval", str(out), "--dataset", str(dataset), "--latency-queries", "2"])
    assert result.exit_code == 0, (result.output, result.exception)
    for row in ("bm25", "dense", "hybrid", "hybrid + rerank (torch fp32)", "hybrid + rerank (onnx int8)"):
        assert row in result.stdout
    assert "rerank 30 candidates, p50: torch fp32" in result.stdout and "int8 speed-up" in result.stdout
    assert "### dataset" in (out / "model_card.md").read_text()  # the card now shows the measured table

    shipped = tmp_path / "shipped"
    result = runner.invoke(app, ["reranker", "package", str(out), "--out", str(shipped)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "onnx/model_quint8_avx2.onnx" in verify_model_dir(shipped) and not (shipped / "model.safetensors").exists()
    assert shipped_reranker_dir(shipped) == shipped and load_verified_reranker(shipped).backend == "onnx"

    (out / "model.safetensors").write_bytes(b"corrupted")
    done = cli(tmp_path, "reranker", "eval", str(out), "--dataset", str(dataset))
    assert done.returncode == 2 and "model.safetensors is corrupted" in done.stderr
    assert "Traceback" not in done.stderr
