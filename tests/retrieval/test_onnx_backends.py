"""`build_reranker`: ONNX (fp32, int8) runtimes of a cross-encoder, exported once and cached, and via the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.cli import app
from retrieval.embedder import bundled_minilm_path
from retrieval.errors import RetrievalError
from retrieval.onnx_export import torch_source
from retrieval.reranker import build_reranker

RAGLOOP = [sys.executable, "-c", "from agent.cli import main; main()"]
PASSAGES = [
    "Docker volumes keep container data on the host after the container is removed.",
    "Sourdough bread rises with wild yeast and lactic acid bacteria.",
    "A named volume is created with docker volume create and mounted with -v.",
]


def test_int8_export_is_cached_and_scores_like_torch(tmp_path: Path) -> None:
    model = bundled_minilm_path()
    int8 = build_reranker(model, "onnx-int8", cache_dir=tmp_path)
    assert int8.name.endswith("@onnx-int8") and int8.backend == "onnx"
    # the bundled bi-encoder has no classification head yet (a fresh random one per load): compare with the
    # torch weights the export was made from
    (cached,) = tmp_path.iterdir()
    torch_scores = build_reranker(torch_source(cached), "torch").score("docker volume", PASSAGES)
    int8_scores = int8.score("docker volume", PASSAGES)
    # quantization moves the scores a little (the untrained head scores every pair near 0.5, so their order is
    # not meaningful here: the trained reranker's quality with int8 is measured by `ragloop reranker eval`)
    assert max(abs(a - b) for a, b in zip(torch_scores, int8_scores, strict=True)) < 0.1
    exported = sorted(tmp_path.rglob("*.onnx"))
    assert [p.name for p in exported] == ["model.onnx", "model_quint8_avx2.onnx"]
    stamp = exported[1].stat().st_mtime_ns
    again = build_reranker(model, "onnx-int8", cache_dir=tmp_path)  # reused, not exported again
    assert again.score("docker volume", PASSAGES) == pytest.approx(int8_scores, abs=1e-5)
    assert exported[1].stat().st_mtime_ns == stamp
    # a model directory that ships its ONNX files is used in place, without a cache directory
    in_place = build_reranker(exported[1].parent.parent, "onnx-int8")
    assert in_place.score("docker volume", PASSAGES) == pytest.approx(int8_scores, abs=1e-5)


def test_bad_backend_and_missing_cache_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RetrievalError, match="Unknown model backend 'tensorrt'; use one of: torch, onnx, onnx-int8"):
        build_reranker(bundled_minilm_path(), "tensorrt")
    with pytest.raises(RetrievalError, match="needs a cache directory"):
        build_reranker(bundled_minilm_path(), "onnx")


def test_search_cli_reranks_with_the_int8_backend(seeded_home: Path) -> None:
    env = {"RAGLOOP_HOME": str(seeded_home), "RAGLOOP_CHROMA_URL": ""}
    args = ["search", "docker", "-c", "docs", "--rerank-model", str(bundled_minilm_path()), "--json"]
    result = CliRunner().invoke(app, [*args, "--rerank-backend", "onnx-int8"], env=env)
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert all("rerank" in h["scores"] for h in hits)
    assert list((seeded_home / "onnx").rglob("model_quint8_avx2.onnx"))  # cached in the data directory
    bad = subprocess.run(
        [*RAGLOOP, *args, "--rerank-backend", "gpu"], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "`retrieval.rerank_backend` (--rerank-backend): Input should be 'torch', 'onnx' or 'onnx-int8'" in bad.stderr


def test_onnx_embedder_ingests_the_same_collection_without_re_embedding(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "volumes.md").write_text("# Volumes\n\n" + PASSAGES[0] + " " + PASSAGES[2] + "\n", encoding="utf-8")
    (docs / "bread.md").write_text("# Bread\n\n" + PASSAGES[1] + "\n", encoding="utf-8")
    env = {**os.environ, "RAGLOOP_HOME": str(tmp_path / "home"), "RAGLOOP_CHROMA_URL": ""}

    def ragloop(*args: str) -> dict[str, Any]:
        done = subprocess.run([*RAGLOOP, *args, "--json"], env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        data: dict[str, Any] = json.loads(done.stdout)
        return data

    first = ragloop("ingest", str(docs), "-c", "notes", "--embed-backend", "onnx")
    assert first["added"] == 2
    # the runtime is not part of the model's identity: torch reads the same collection, nothing is re-embedded
    assert ragloop("ingest", str(docs), "-c", "notes")["unchanged"] == 2
    for backend in ("torch", "onnx", "onnx-int8"):
        found = ragloop("search", "docker volume", "-c", "notes", "--mode", "dense", "--embed-backend", backend)
        assert found["embedder"]["runtime"] == backend  # the setting reached the searcher's embedder
        hits = found["hits"]
        assert hits[0]["source"].endswith("volumes.md"), backend
        assert hits[0]["scores"]["dense"] > hits[-1]["scores"]["dense"]
