"""The Chroma store adapter over a real embedded store: round-trips, filters, collections, the lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.errors import CollectionNotFoundError, RetrievalError, StoreLockedError
from retrieval.store import open_store, validate_collection_name
from retrieval.types import Chunk


def unit(i: int, dim: int = 4) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(dim)]


def test_chunks_round_trip_with_metadata(tmp_path: Path, chunks: list[Chunk]) -> None:
    chunks[0].metadata.update(tags=["a", "b"], missing=None, lang="en")
    with open_store(tmp_path) as store:
        coll = store.create_collection("docs", embedder="fake", dimension=4)
        coll.upsert(chunks[:4], [unit(i) for i in range(4)])
        assert coll.count() == 4
        got = coll.get(["c03", "c00", "nope"])
    assert [c.id for c in got] == ["c03", "c00"]
    first = got[1]
    assert first.heading_path == ["Install", "From source"]
    assert first.page is None and first.end == len(first.text) and first.doc_hash == "h-guide/install.md"
    assert first.metadata == {"format": "md", "lang": "en", "tags": '["a", "b"]'}
    assert first.text == chunks[0].text and first.source == chunks[0].source and first.title == "Install"


def test_query_where_delete_and_documents(tmp_path: Path, chunks: list[Chunk]) -> None:
    with open_store(tmp_path) as store:
        coll = store.create_collection("docs")
        coll.upsert(chunks[:4] + chunks[4:6], [unit(i % 4) for i in range(6)])
        hits = coll.query(unit(0), 3)
        assert hits[0][0].id in ("c00", "c04") and hits[0][1] == pytest.approx(0.0, abs=1e-5)
        only_pdf = coll.query(unit(0), 10, where={"format": "pdf"})
        assert {c.id for c, _ in only_pdf} == {"c04", "c05"}
        page2 = coll.query(unit(0), 10, where={"source": "papers/raft.pdf", "page": 2})
        assert [c.page for c, _ in page2] == [2]
        assert {c.id for c in coll.get(where={"page": {"$gte": 1}})} == {"c04", "c05"}
        assert coll.documents() == {
            "guide/install.md": "h-guide/install.md",
            "guide/search.md": "h-guide/search.md",
            "papers/raft.pdf": "h-papers/raft.pdf",
        }
        coll.delete(where={"doc_id": "papers/raft.pdf"})
        coll.delete(ids=["c00"])
        assert sorted(coll.ids()) == ["c01", "c02", "c03"]
        pages = list(coll.iter_texts(page_size=2))
        assert [len(ids) for ids, _ in pages] == [2, 1]
        assert sorted(i for ids, _ in pages for i in ids) == ["c01", "c02", "c03"]
        assert set(coll.embeddings(["c01", "zz"])) == {"c01"}
        with pytest.raises(RetrievalError, match="failed"):
            coll.query(unit(0), 3, where={"$nonsense": 1})


def test_collections_lifecycle_and_names(tmp_path: Path, chunks: list[Chunk]) -> None:
    with open_store(tmp_path) as store:
        store.create_collection("alpha", embedder="m1", dimension=4).upsert(chunks[:1], [unit(0)])
        store.create_collection("beta.v2")
        assert store.list_collections() == ["alpha", "beta.v2"]
        stats = store.stats("alpha")
        assert stats.as_dict() == {"name": "alpha", "chunks": 1, "documents": 1, "embedder": "m1", "dimension": 4}
        with pytest.raises(RetrievalError, match=r"embedded with 'm1'.*--embedder m1"):
            store.create_collection("alpha", embedder="other")
        with pytest.raises(RetrievalError, match="4-dimensional"):
            store.get_collection("alpha").upsert(chunks[:1], [[1.0, 0.0]])
        store.delete_collection("beta.v2")
        assert store.list_collections() == ["alpha"]
        with pytest.raises(CollectionNotFoundError, match="ragloop collections list"):
            store.get_collection("beta.v2")
        with pytest.raises(CollectionNotFoundError):
            store.delete_collection("beta.v2")
    # persisted: a new open sees the data
    with open_store(tmp_path) as store:
        assert store.get_collection("alpha").count() == 1


@pytest.mark.parametrize("bad", ["ab", "-abc", "abc-", "has space", "x" * 513, "ünï", ""])
def test_invalid_collection_names(bad: str) -> None:
    with pytest.raises(RetrievalError, match=r"3-512 characters"):
        validate_collection_name(bad)


def test_valid_collection_names() -> None:
    for good in ("abc", "my-docs_v1.2", "x" * 512):
        assert validate_collection_name(good) == good


def test_second_process_gets_store_locked_error(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from retrieval.store import open_store\n"
        "from retrieval.errors import StoreLockedError\n"
        "try:\n"
        f"    open_store({str(tmp_path)!r}, lock_timeout=0.2)\n"
        "except StoreLockedError as exc:\n"
        "    print(exc); sys.exit(3)\n"
        "print('opened')\n"
    )
    with open_store(tmp_path) as store:
        store.create_collection("docs")
        # a second open in the same process shares the lock
        with open_store(tmp_path) as again:
            assert again.list_collections() == ["docs"]
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert result.returncode == 3, result.stdout + result.stderr
        assert "Another ragloop process holds the embedded store" in result.stdout
        assert f"chroma run --path {tmp_path / 'chroma'} --host 127.0.0.1 --port 8000" in result.stdout
        assert "--chroma-url" in result.stdout and "RAGLOOP_CHROMA_URL" in result.stdout
        assert store.get_collection("docs").count() == 0  # still usable by the holder
    # released on close: another process can open it now
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "opened" in result.stdout, result.stderr


def test_store_locked_error_is_a_retrieval_error() -> None:
    assert issubclass(StoreLockedError, RetrievalError)
