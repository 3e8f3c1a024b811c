"""Interrupted ingests (SIGKILL at three points, Ctrl-C through the CLI) leave every document old or new,
and the next ingest removes the leftovers. The ingest runs in a real subprocess; a hang point injected by
the child script marks where it is killed, so the test is deterministic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ingest_fixtures import assert_clean, check_consistent

from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.ingest import ingest
from retrieval.loaders import content_hash, document_id
from retrieval.manifest import current_chunk_ids
from retrieval.search import build_searcher
from retrieval.store import open_store
from retrieval.testing import CountingEmbedder

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
DOCS = 12
BATCH = 4  # chunks per commit in the child: 3 groups of 4 one-chunk documents

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    home, corpus, mode, marker = sys.argv[1:5]
    calls = {"n": 0}

    def hang_on(n, fn):
        def wrapper(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                Path(marker).write_text("here")
                while True:
                    time.sleep(0.05)
            return fn(*args, **kwargs)
        return wrapper

    from retrieval.embedder import SentenceTransformerEmbedder
    from retrieval.manifest import Manifest
    from retrieval.store import ChunkCollection

    if mode == "embed":  # killed while embedding the second group
        SentenceTransformerEmbedder.embed = hang_on(2, SentenceTransformerEmbedder.embed)
    elif mode in ("switch", "cli"):  # killed after new chunks are written, before the manifest switch
        Manifest.put = hang_on(2 if mode == "switch" else 1, Manifest.put)
    elif mode == "delete":  # killed after the switch, before the old chunks are deleted
        ChunkCollection.delete = hang_on(1, ChunkCollection.delete)

    if mode == "cli":
        sys.argv = ["ragloop", "ingest", corpus, "--collection", "docs"]
        from agent.cli import main
        main()
    else:
        from retrieval.ingest import ingest
        from retrieval.store import open_store
        with open_store(Path(home)) as store:
            ingest([Path(corpus)], store=store, collection="docs", embedder=SentenceTransformerEmbedder(),
                   home=Path(home), progress=False, embed_batch=int(sys.argv[5]))
    """
)


def _write_version(corpus: Path, version: int) -> dict[str, str]:
    """DOCS one-chunk Markdown files; returns doc_id -> content hash."""
    corpus.mkdir(exist_ok=True)
    hashes = {}
    for i in range(DOCS):
        path = corpus / f"doc{i:02d}.md"
        data = f"# Document {i}\n\nVersion {version} of document {i} mentions topic {i * 7 % 5}.\n"
        path.write_text(data, encoding="utf-8")
        hashes[document_id(path, corpus)] = content_hash(data.encode("utf-8"))
    return hashes


def _run_child(tmp_path: Path, home: Path, corpus: Path, mode: str, sig: int) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    marker = tmp_path / f"marker-{mode}"
    env = {**os.environ, "RAGLOOP_HOME": str(home), "PYTHONPATH": str(REPO)}
    # A child inherits an ignored SIGINT (shells start `cmd &` that way), never a handler: let it see Ctrl-C.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(home), str(corpus), mode, str(marker), str(BATCH)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 180
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"child ended before reaching the hang point ({proc.returncode}): {err[-3000:]}")
        assert time.monotonic() < deadline, "child never reached the hang point"
        time.sleep(0.05)
    proc.send_signal(sig)
    try:  # a hang guard, not a speed check: a loaded machine can take long to unwind torch and Chroma
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()  # reaps the child and closes its pipes before failing
        pytest.fail(f"the child did not exit after signal {sig}: {err[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize(
    ("mode", "new_docs", "orphans"),
    [
        ("embed", BATCH, 0),  # group 1 committed; nothing of group 2 written
        ("switch", BATCH, BATCH),  # group 1 committed; group 2's new chunks written, not switched
        ("delete", BATCH, BATCH),  # group 1 switched; its old chunks not yet deleted
    ],
)
def test_sigkill_leaves_documents_old_or_new_and_next_ingest_repairs(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, mode: str, new_docs: int, orphans: int
) -> None:
    home, corpus = tmp_path / "home", tmp_path / "corpus"
    old = _write_version(corpus, 1)
    with open_store(home) as store:
        ingest([corpus], store=store, collection="docs", embedder=embedder, home=home, progress=False)
    new = _write_version(corpus, 2)

    result = _run_child(tmp_path, home, corpus, mode, signal.SIGKILL)
    assert result.returncode == -signal.SIGKILL

    with open_store(home) as store:  # the killed child's lock is gone with it
        manifest = check_consistent(store, home, "docs")
        assert manifest.dirty
        versions = {doc_id: entry.doc_hash for doc_id, entry in manifest.entries.items()}
        assert set(versions) == set(old)
        assert all(versions[d] in (old[d], new[d]) for d in versions)
        assert sum(versions[d] == new[d] for d in versions) == new_docs
        trusted = current_chunk_ids(store, "docs")
        assert trusted == manifest.chunk_ids()
        leftover = set(store.get_collection("docs").ids()) - trusted
        assert len(leftover) == orphans
        searcher = build_searcher(store, home, "docs", embedder=embedder)
        for search_mode in ("dense", "bm25", "hybrid"):  # k covers every stored chunk, orphans included
            hits = searcher.run("document version", k=3 * DOCS, mode=search_mode).hits  # type: ignore[arg-type]
            assert hits and {hit.chunk.id for hit in hits} <= trusted, f"{search_mode} returned leftovers"

        counting = CountingEmbedder(embedder)
        report = ingest([corpus], store=store, collection="docs", embedder=counting, home=home, progress=False)
        assert report.orphans_removed == orphans
        assert (report.updated, report.unchanged, report.added) == (DOCS - new_docs, new_docs, 0)
        assert counting.texts == DOCS - new_docs  # committed documents are not embedded again
        repaired = assert_clean(store, home, "docs")
        assert {d: e.doc_hash for d, e in repaired.entries.items()} == new


def test_ctrl_c_through_the_cli_is_clean(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    home, corpus = tmp_path / "home", tmp_path / "corpus"
    new = _write_version(corpus, 1)
    result = _run_child(tmp_path, home, corpus, "cli", signal.SIGINT)
    assert result.returncode == 130
    assert "Traceback" not in result.stderr

    with open_store(home) as store:
        manifest = check_consistent(store, home, "docs")
        assert len(manifest) == 0  # nothing was switched: the collection has no document yet
        assert len(store.get_collection("docs").ids()) == DOCS  # only orphans
        report = ingest([corpus], store=store, collection="docs", embedder=embedder, home=home, progress=False)
        assert (report.orphans_removed, report.added) == (DOCS, DOCS)
        assert {d: e.doc_hash for d, e in assert_clean(store, home, "docs").entries.items()} == new
