"""`ragloop ingest` and `ragloop collections ...`: JSON and text output, user errors, the Chroma server mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ingest_fixtures import assert_clean, write_corpus
from typer.testing import CliRunner

from agent.cli import app
from retrieval.bm25 import index_dir
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.ingest import ingest
from retrieval.manifest import manifest_name
from retrieval.store import open_store
from retrieval.testing import CountingEmbedder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"RAGLOOP_HOME": str(tmp_path / "home")}


def _invoke(env: dict[str, str], *args: str) -> tuple[str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout, result.stderr


def _ragloop(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from agent.cli import main; main()", *args],
        cwd=REPO,
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ingest_json_then_collections(tmp_path: Path, env: dict[str, str]) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    (corpus / "blob.bin").write_bytes(b"\x00\x00binary")
    out, _ = _invoke(env, "ingest", str(corpus), "--collection", "notes", "--json")
    report = json.loads(out)
    assert (report["collection"], report["files"], report["added"], report["skipped"]) == ("notes", 7, 7, 1)
    assert report["chunks"] == report["total_chunks"] > 0
    assert report["warnings"] == [f"{corpus / 'blob.bin'}: skipped: binary (contains NUL bytes)"]

    out, err = _invoke(env, "ingest", str(corpus), "--collection", "notes")
    assert err.strip() == f"warning: {corpus / 'blob.bin'}: skipped: binary (contains NUL bytes)"
    summary = out.strip().splitlines()[-1]
    assert summary.startswith(
        "notes: 0 added, 0 updated, 7 unchanged, 1 skipped (1 binary), 0 deleted; 0 chunks embedded"
    )

    rows = json.loads(_invoke(env, "collections", "list", "--json")[0])
    assert rows == [{"name": "notes", "documents": 7, "chunks": report["total_chunks"], "embedder": "all-MiniLM-L6-v2"}]
    stats = json.loads(_invoke(env, "collections", "stats", "notes", "--json")[0])
    assert stats["documents"] == stats["manifest_documents"] == 7
    assert (stats["dimension"], stats["bm25_current"], stats["interrupted_ingest"]) == (384, True, False)
    assert "notes" in _invoke(env, "collections", "list")[0]

    home = Path(env["RAGLOOP_HOME"])
    assert index_dir(home, "notes").exists()
    deleted = json.loads(_invoke(env, "collections", "delete", "notes", "--yes", "--json")[0])
    assert deleted == {"deleted": "notes", "chunks": report["total_chunks"]}
    assert json.loads(_invoke(env, "collections", "list", "--json")[0]) == []
    assert not index_dir(home, "notes").exists()
    with open_store(home) as store:
        assert store.list_collections() == []  # the manifest went with it


def test_user_errors_exit_2_with_a_message(tmp_path: Path, env: dict[str, str]) -> None:
    missing = _ragloop(env, "ingest", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: No such file or directory") and "Traceback" not in missing.stderr

    unknown = _ragloop(env, "collections", "stats", "ghost")
    assert unknown.returncode == 2 and "ghost" in unknown.stderr and "collections list" in unknown.stderr

    (tmp_path / "a.md").write_text("# A\n\nSome text.")
    assert _ragloop(env, "ingest", str(tmp_path / "a.md"), "-c", "keep").returncode == 0
    unconfirmed = _ragloop(env, "collections", "delete", "keep")
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    listed = json.loads(_ragloop(env, "collections", "list", "--json").stdout)
    assert [row["name"] for row in listed] == ["keep"]  # not deleted

    reserved = _ragloop(env, "ingest", str(tmp_path / "a.md"), "-c", "keep__docs")
    assert reserved.returncode == 2 and "reserved" in reserved.stderr


def test_ingest_through_a_chroma_server(
    tmp_path: Path, chroma_server: str, embedder: SentenceTransformerEmbedder
) -> None:
    """The manifest is a sidecar collection, so the server mode gets the same incremental behaviour."""
    home = tmp_path / "home"
    corpus = tmp_path / "corpus"
    files = write_corpus(corpus)
    counting = CountingEmbedder(embedder)
    with open_store(home, chroma_server) as store:
        first = ingest([corpus], store=store, collection="srv-docs", embedder=counting, home=home, progress=False)
        assert first.added == 7
        assert manifest_name("srv-docs") in store.list_collections()
        files["md"].unlink()
        counting.reset()
        second = ingest(
            [corpus], store=store, collection="srv-docs", embedder=counting, home=home, progress=False, prune=True
        )
        assert (second.unchanged, second.deleted, counting.calls) == (6, 1, 0)
        assert_clean(store, home, "srv-docs")
        store.delete_collection("srv-docs")
        store.delete_collection(manifest_name("srv-docs"))


def test_glob_matching_nothing_is_an_error_through_the_cli(tmp_path: Path, env: dict[str, str]) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    done = _ragloop(env, "ingest", str(corpus), "--glob", "*.rst", "--collection", "empty")
    assert done.returncode == 2, done.stderr
    assert "matches --glob '*.rst'" in done.stderr and "nothing was ingested" in done.stderr
    assert "Traceback" not in done.stderr
    listed = _ragloop(env, "collections", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []  # no empty collection left behind
