"""`ragloop search` through typer's CliRunner and as a real subprocess (exit codes, clean errors)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from retrieval.embedder import SentenceTransformerEmbedder, bundled_minilm_path
from retrieval.reranker import RERANK_OFF_NOTE

RAGLOOP = [sys.executable, "-c", "from agent.cli import main; main()"]


def run_cli(home: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"RAGLOOP_HOME": str(home), "RAGLOOP_CHROMA_URL": ""})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_search_json_has_citations_scores_and_the_rerank_note(seeded_home: Path) -> None:
    code, out, _ = run_cli(seeded_home, "search", "Raft leader election", "-c", "docs", "--k", "2", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["collection"] == "docs" and data["mode"] == "hybrid" and data["notes"] == [RERANK_OFF_NOTE]
    top = data["hits"][0]
    assert top["chunk_id"] == "c05" and top["source"] == "papers/raft.pdf" and top["page"] == 2
    assert top["title"] == "Raft consensus" and top["heading_path"] == [] and top["rank"] == 1
    assert set(top["scores"]) >= {"rrf"} and top["text"].startswith("Leader election in Raft")
    assert len(data["hits"]) == 2


def test_search_modes_filter_and_human_output(seeded_home: Path) -> None:
    code, out, err = run_cli(
        seeded_home, "search", "hybrid search", "-c", "docs", "--mode", "bm25", "--where", '{"format": "md"}'
    )
    assert code == 0 and "reranking is off" in err
    assert "1. Search — guide/search.md › Search > Hybrid" in out and "bm25" in out
    assert "raft.pdf" not in out
    code, out, _ = run_cli(seeded_home, "search", "sourdough", "-c", "docs", "--mode", "dense", "--mmr", "--json")
    assert code == 0 and "mmr" in json.loads(out)["hits"][0]["scores"]


def test_search_with_rerank_model_and_no_rerank(seeded_home: Path) -> None:
    model = str(bundled_minilm_path())
    code, out, _ = run_cli(
        seeded_home, "search", "docker", "-c", "docs", "--rerank-model", model, "--candidates", "4", "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["notes"] == [] and len(data["hits"]) == 5
    # the top 4 fused candidates are reranked; with k=5 the fifth follows in fused order
    assert all("rerank" in h["scores"] for h in data["hits"][:4]) and "rerank" not in data["hits"][4]["scores"]
    code, out, _ = run_cli(
        seeded_home, "search", "docker", "-c", "docs", "--rerank-model", model, "--no-rerank", "--json"
    )
    data = json.loads(out)
    assert data["notes"] == ["reranking turned off (--no-rerank)"]
    assert all("rerank" not in h["scores"] for h in data["hits"])


def test_bad_input_exits_2_without_traceback(seeded_home: Path) -> None:
    env = {"RAGLOOP_HOME": str(seeded_home), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    for args, message in [
        (["search", "x", "-c", "docs", "--where", "{page: 2}"], "--where is not valid JSON"),
        (["search", "x", "-c", "docs", "--mode", "fuzzy"], "Unknown search mode 'fuzzy'"),
        (["search", "x", "-c", "nope-nope"], "Collection 'nope-nope' does not exist"),
        (["search", "x", "-c", "a"], "Invalid collection name 'a'"),
        (["search", "x", "-c", "docs", "--where", '{"$bogus": 1}'], "failed"),
    ]:
        result = subprocess.run(RAGLOOP + args, capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_search_through_a_chroma_server(
    tmp_path: Path,
    chroma_server: str,
    embedder: SentenceTransformerEmbedder,
    seed: Callable[..., None],
) -> None:
    home = tmp_path / "home"
    seed(home, embedder, name="served-docs", chroma_url=chroma_server)
    code, out, _ = run_cli(
        home, "search", "docker volume", "-c", "served-docs", "--chroma-url", chroma_server, "--json"
    )
    assert code == 0 and json.loads(out)["hits"][0]["chunk_id"] == "c01"
    assert not (home / "chroma").exists()  # nothing embedded was opened
