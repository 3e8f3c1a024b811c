"""The embedders `build_embedder` resolves, each on its real model: nomic-embed-text-v1.5 (F16 and the local
Q8_0 variant) through llama.cpp, MiniLM through sentence-transformers; `kind` reaching the model's prompts; and
collections refusing another embedder with the command that re-ingests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.settings import Settings
from retrieval.embedder import SentenceTransformerEmbedder, build_embedder, bundled_minilm_path
from retrieval.embedders.gguf import GGUFEmbedder
from retrieval.embedders.openai_endpoint import OpenAIEmbedder
from retrieval.embedders.prompts import NOMIC, prompts_for
from retrieval.errors import RetrievalError
from retrieval.ingest import ingest
from retrieval.search import HybridSearcher
from retrieval.store import open_store

REPO = Path(__file__).resolve().parents[2]
QUERY = "how do I undo the last commit"
RELEVANT = "git reset --soft HEAD~1 moves the branch back one commit and keeps the changes staged."
UNRELATED = "The octopus is a soft-bodied marine animal with eight arms and three hearts."


def _models_dir() -> Path:
    return Settings().models_dir


@pytest.fixture(scope="module")
def nomic() -> GGUFEmbedder:
    embedder = build_embedder("nomic-embed-text-v1.5", models_dir=_models_dir(), threads=2)
    assert isinstance(embedder, GGUFEmbedder)
    return embedder


def _relevant_wins(embedder: object) -> None:
    q = np.array(embedder.embed([QUERY], "query")[0])  # type: ignore[attr-defined]
    docs = np.array(embedder.embed([RELEVANT, UNRELATED], "document"))  # type: ignore[attr-defined]
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    assert docs[0] @ q > docs[1] @ q + 0.1


@pytest.mark.slow
def test_nomic_gguf_ranks_the_relevant_passage_first_and_applies_its_prefixes(nomic: GGUFEmbedder) -> None:
    assert (nomic.name, nomic.label, nomic.dimension) == ("nomic-embed-text-v1.5", "nomic-embed-text-v1.5@f16", 768)
    _relevant_wins(nomic)
    # kind reaches the model as the task prefix: the same as prefixing by hand and embedding raw
    raw, _ = nomic.engine.embed(["search_query: " + QUERY, "search_document: " + QUERY])
    assert np.allclose(nomic.embed([QUERY], "query")[0], raw[0], atol=1e-4)
    assert np.allclose(nomic.embed([QUERY], "document")[0], raw[1], atol=1e-4)
    assert not np.allclose(raw[0], raw[1], atol=1e-2)  # the two kinds really differ
    # chunk budgets count the document prefix and the specials
    assert nomic.count_tokens("") == nomic.engine.count_tokens("search_document: ") > 2
    assert nomic.max_tokens == 512


@pytest.mark.slow
def test_nomic_q8_variant_is_the_same_model_quantized(nomic: GGUFEmbedder) -> None:
    q8 = build_embedder("nomic-embed-text-v1.5-q8", models_dir=_models_dir(), threads=2)
    assert isinstance(q8, GGUFEmbedder)
    assert q8.name == nomic.name and q8.label == "nomic-embed-text-v1.5@q8_0"
    _relevant_wins(q8)
    a, b = np.array(q8.embed([RELEVANT])[0]), np.array(nomic.embed([RELEVANT])[0])
    assert a @ b > 0.99
    assert (_models_dir() / "nomic-embed-text-v1.5.Q8_0.gguf").stat().st_size < 0.6 * 274_290_560
    q8.close()


@pytest.mark.slow
def test_a_gguf_path_gets_its_prompts_from_the_files_own_name(nomic: GGUFEmbedder) -> None:
    by_path = build_embedder(str(nomic.engine.path), models_dir=_models_dir(), threads=1)
    assert isinstance(by_path, GGUFEmbedder) and by_path.name.endswith(".gguf")
    assert by_path.prompts == NOMIC  # general.name in the GGUF says nomic-embed-text-v1.5
    by_path.close()


def test_minilm_honours_kind_and_has_no_prompts() -> None:
    minilm = build_embedder(None)
    assert isinstance(minilm, SentenceTransformerEmbedder) and minilm.name == "all-MiniLM-L6-v2"
    assert np.allclose(minilm.embed([QUERY], "query"), minilm.embed([QUERY], "document"), atol=1e-6)
    _relevant_wins(minilm)


def test_sentence_transformers_prompts_follow_kind(tmp_path: Path) -> None:
    """A sentence-transformers model that defines prompts gets them by kind (MiniLM with prompts added)."""
    model_dir = tmp_path / "minilm-prompts"
    shutil.copytree(bundled_minilm_path(), model_dir)
    config_path = model_dir / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    config["prompts"] = {"query": "query: ", "document": "passage: "}
    config_path.write_text(json.dumps(config))
    prompted, plain = SentenceTransformerEmbedder(model_dir), SentenceTransformerEmbedder(None)
    assert np.allclose(prompted.embed([QUERY], "query"), plain.embed(["query: " + QUERY]), atol=1e-5)
    assert np.allclose(prompted.embed([QUERY], "document"), plain.embed(["passage: " + QUERY]), atol=1e-5)
    assert prompted.count_tokens("") == plain.count_tokens("passage: ")


def test_references_resolve_to_the_right_embedder(tmp_path: Path) -> None:
    remote = build_embedder("openai:http://127.0.0.1:8808/v1#nomic-embed-text-v1.5")
    assert isinstance(remote, OpenAIEmbedder)
    assert (remote.base_url, remote.name, remote.prompts) == (
        "http://127.0.0.1:8808/v1",
        "nomic-embed-text-v1.5",
        NOMIC,
    )
    other = build_embedder("openai:https://api.example.com/v1/#text-embedding-3-small", api_key="sk")
    assert isinstance(other, OpenAIEmbedder) and other.prompts == prompts_for(None)
    for bad in ("openai:nomic", "openai:http://x/v1#", "openai:ftp://x#m"):
        with pytest.raises(RetrievalError, match="openai:<base_url>#<model>"):
            build_embedder(bad)
    with pytest.raises(RetrievalError, match="embed-backend onnx"):
        build_embedder("nomic-embed-text-v1.5", "onnx", models_dir=tmp_path)
    gguf = build_embedder("nomic-embed-text-v1.5", cache_dir=tmp_path / "home" / "onnx")
    assert isinstance(gguf, GGUFEmbedder) and gguf.models_dir == tmp_path / "home" / "models"


def test_a_missing_gguf_file_is_a_clear_error(tmp_path: Path) -> None:
    embedder = build_embedder(str(tmp_path / "nope.gguf"), models_dir=tmp_path)
    with pytest.raises(RetrievalError, match="No GGUF file at"):
        _ = embedder.dimension


@pytest.mark.slow
def test_switching_embedders_on_a_collection_is_refused_with_the_reingest_command(
    tmp_path: Path, nomic: GGUFEmbedder
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "git.md").write_text("# Undo\n\n" + RELEVANT + "\n")
    home = tmp_path / "home"
    minilm = build_embedder(None)
    with open_store(home) as store:
        ingest([corpus], store=store, collection="notes", embedder=minilm, home=home, progress=False)
        with pytest.raises(RetrievalError) as refused:
            ingest([corpus], store=store, collection="notes", embedder=nomic, home=home, progress=False)
        message = str(refused.value)
        assert "'all-MiniLM-L6-v2'" in message and "--embedder all-MiniLM-L6-v2" in message
        assert "ragloop ingest PATH... --collection notes-nomic-embed-text-v1.5 --embedder nomic-embed-text-v1.5" in (
            message
        )
        collection = store.get_collection("notes")
        assert collection.count() == 1 and collection.embedder == "all-MiniLM-L6-v2"  # nothing was written
        with pytest.raises(RetrievalError, match="this search uses 'nomic-embed-text"):
            HybridSearcher(collection, nomic, home=home)
        # the same model quantized is the same model: searching with Q8_0 is allowed
        ingest([corpus], store=store, collection="nomic", embedder=nomic, home=home, progress=False)
        q8 = build_embedder("nomic-embed-text-v1.5-q8", models_dir=_models_dir(), threads=2)
        hits = HybridSearcher(store.get_collection("nomic"), q8, home=home, mode="dense").search(QUERY, 1)
        assert hits and "git reset" in hits[0].chunk.text
        q8.close()


@pytest.mark.slow
def test_the_cli_refuses_another_embedder_with_exit_code_2(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "git.md").write_text("# Undo\n\n" + RELEVANT + "\n")
    env = {**os.environ, "RAGLOOP_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}

    def ragloop(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", "from agent.cli import main; main()", *args]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

    first = ragloop("ingest", str(corpus), "--collection", "notes")
    assert first.returncode == 0, first.stderr
    second = ragloop("ingest", str(corpus), "--collection", "notes", "--embedder", "nomic-embed-text-v1.5")
    assert second.returncode == 2, second.stderr
    assert "Traceback" not in second.stderr and second.stderr.startswith("error: ")
    assert "ragloop ingest PATH... --collection notes-nomic-embed-text-v1.5 --embedder nomic-embed-text-v1.5" in (
        " ".join(second.stderr.split())
    )
