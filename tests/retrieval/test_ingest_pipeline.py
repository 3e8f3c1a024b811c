"""Ingest with the real MiniLM embedder and a real embedded Chroma store in a temporary home."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_fixtures import JSONL_RECORDS, assert_clean, write_corpus, write_jsonl

from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.errors import RetrievalError
from retrieval.ingest import IngestReport, ingest
from retrieval.loaders import document_id
from retrieval.manifest import manifest_name
from retrieval.store import Store, open_store
from retrieval.testing import CountingEmbedder, HashEmbedder

COLLECTION = "docs"


@pytest.fixture
def counting(embedder: SentenceTransformerEmbedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with open_store(home) as opened:
        yield opened


def run(store: Store, home: Path, embedder: CountingEmbedder, *paths: Path, **options: object) -> IngestReport:
    return ingest(
        list(paths), store=store, collection=COLLECTION, embedder=embedder, home=home, progress=False, **options
    )  # type: ignore[arg-type]


def test_ingest_every_format(tmp_path: Path, home: Path, store: Store, counting: CountingEmbedder) -> None:
    files = write_corpus(tmp_path / "corpus")
    report = run(store, home, counting, tmp_path / "corpus")
    assert (report.files, report.added, report.skipped, report.warnings) == (6, 7, 0, [])  # 2 JSONL records
    assert report.chunks == report.total_chunks == counting.texts > 0
    assert counting.kinds == ["document"] * counting.calls
    manifest = assert_clean(store, home, COLLECTION)
    assert set(manifest.entries) == {f"corpus/{p.name}" for k, p in files.items() if k != "jsonl"} | {
        "rec-volcano",
        "rec-glacier",
    }
    chunks = store.get_collection(COLLECTION)

    def best(query: str) -> object:
        vector = counting.inner.embed([query], "query")[0]
        return chunks.query(vector, k=1)[0][0]

    pdf_hit = best("How often should the boiler be descaled?")
    assert (pdf_hit.doc_id, pdf_hit.page, pdf_hit.title) == ("corpus/manual.pdf", 2, "Espresso machine manual")
    md_hit = best("What soil pH do blueberries need?")
    assert md_hit.heading_path == ["Soil", "Acidity"] and md_hit.title == "Gardening handbook"
    assert md_hit.metadata["audience"] == "beginners" and md_hit.metadata["format"] == "markdown"
    html_hit = best("When should a bicycle chain be replaced?")
    assert html_hit.heading_path == ["Chains", "Wear"] and html_hit.title == "Bicycle maintenance"
    jsonl_hit = best("largest active volcano")
    assert jsonl_hit.doc_id == "rec-volcano" and jsonl_hit.metadata["year"] == 2021
    code_hit = best("area of a circle")
    assert code_hit.heading_path == ["def circle_area(radius)"] and code_hit.metadata["language"] == "python"
    text_hit = best("green tea temperature")
    assert text_hit.title == "Tea notes"
    # offsets point into the document's extracted text
    for hit in (pdf_hit, md_hit, html_hit, jsonl_hit, code_hit, text_hit):
        assert hit.end - hit.start == len(hit.text)


def test_reingest_unchanged_does_no_embedding_work(
    tmp_path: Path, home: Path, store: Store, counting: CountingEmbedder
) -> None:
    write_corpus(tmp_path / "corpus")
    first = run(store, home, counting, tmp_path / "corpus")
    ids_before = set(store.get_collection(COLLECTION).ids())
    counting.reset()
    second = run(store, home, counting, tmp_path / "corpus")
    assert counting.calls == 0 and counting.texts == 0
    assert (second.added, second.updated, second.unchanged, second.deleted, second.chunks) == (0, 0, 7, 0, 0)
    assert second.total_chunks == first.total_chunks
    assert set(store.get_collection(COLLECTION).ids()) == ids_before
    assert_clean(store, home, COLLECTION)


def test_changed_file_replaces_its_chunks(tmp_path: Path, home: Path, store: Store, counting: CountingEmbedder) -> None:
    files = write_corpus(tmp_path / "corpus")
    run(store, home, counting, tmp_path / "corpus")
    key = document_id(files["txt"], tmp_path / "corpus")
    chunks = store.get_collection(COLLECTION)
    old_ids = set(chunks.ids(where={"doc_id": key}))
    assert old_ids
    files["txt"].write_text("Tea notes\n\nOolong tea steeps at 90 degrees for three minutes.\n", encoding="utf-8")
    counting.reset()
    report = run(store, home, counting, tmp_path / "corpus")
    assert (report.added, report.updated, report.unchanged) == (0, 1, 6)
    assert counting.texts == report.chunks == 1  # only the changed document was embedded
    new = chunks.get(where={"doc_id": key})
    assert {c.id for c in new}.isdisjoint(old_ids)
    assert [c.text for c in new] == ["Tea notes\n\nOolong tea steeps at 90 degrees for three minutes."]
    assert chunks.get(ids=sorted(old_ids)) == []
    assert_clean(store, home, COLLECTION)


def test_jsonl_record_changes(tmp_path: Path, home: Path, store: Store, counting: CountingEmbedder) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", JSONL_RECORDS)
    run(store, home, counting, path)
    edited = [dict(JSONL_RECORDS[0], text="Mauna Loa erupted in 2022."), {"id": "rec-new", "text": "A new record."}]
    write_jsonl(path, edited)
    counting.reset()
    report = run(store, home, counting, path)
    # rec-glacier vanished from the file that was read: deleted even without --prune
    assert (report.added, report.updated, report.deleted, report.unchanged) == (1, 1, 1, 0)
    manifest = assert_clean(store, home, COLLECTION)
    assert set(manifest.entries) == {"rec-volcano", "rec-new"}


def test_prune_deletes_documents_of_missing_files(
    tmp_path: Path, home: Path, store: Store, counting: CountingEmbedder
) -> None:
    files = write_corpus(tmp_path / "corpus")
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.md").write_text("# Keep\n\nOutside the pruned root.", encoding="utf-8")
    run(store, home, counting, tmp_path / "corpus", other)
    files["md"].unlink()
    files["jsonl"].unlink()
    shutil.rmtree(other)  # gone too, but not under the root given below

    without = run(store, home, counting, tmp_path / "corpus")
    assert without.deleted == 0
    assert document_id(files["md"], tmp_path / "corpus") in assert_clean(store, home, COLLECTION).entries

    # --glob limits the walk, but files that still exist are never pruned
    pruned = run(store, home, counting, tmp_path / "corpus", prune=True, glob="*.pdf")
    assert pruned.deleted == 3  # garden.md and the two JSONL records
    manifest = assert_clean(store, home, COLLECTION)
    md_id = document_id(files["md"], tmp_path / "corpus")
    assert md_id not in manifest.entries and "rec-volcano" not in manifest.entries
    assert document_id(files["txt"], tmp_path / "corpus") in manifest.entries  # exists, only filtered out by --glob
    assert "other/keep.md" in manifest.entries  # outside the pruned root
    assert store.get_collection(COLLECTION).get(where={"doc_id": md_id}) == []


def test_bad_files_are_skipped_with_warnings(
    tmp_path: Path, home: Path, store: Store, counting: CountingEmbedder
) -> None:
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "good.md").write_text("# Good\n\nThis one is fine.", encoding="utf-8")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    (root / "empty.txt").write_text("")
    (root / "huge.txt").write_text("word " * 5000)
    (root / "latin.txt").write_bytes("naïve".encode("latin-1"))
    (root / "dangling.md").symlink_to(root / "nowhere.md")
    write_jsonl(root / "records.jsonl", [{"id": "r1", "text": "valid record"}], ["{broken"])
    report = run(store, home, counting, root, max_bytes=10_000)
    assert (report.added, report.skipped) == (2, 5)
    reasons = {Path(w.split(": ")[0]).name: w for w in report.warnings}
    assert "binary" in reasons["blob.bin"]
    assert reasons["empty.txt"].endswith("skipped: empty")
    assert "oversized" in reasons["huge.txt"]
    assert "undecodable" in reasons["latin.txt"]
    assert "unreadable" in reasons["dangling.md"]
    assert any(w.startswith(f"{root / 'records.jsonl'}:2: line skipped") for w in report.warnings)
    assert_clean(store, home, COLLECTION)


def test_user_errors(tmp_path: Path, home: Path, store: Store, counting: CountingEmbedder) -> None:
    with pytest.raises(RetrievalError, match=r"No such file or directory: .*missing"):
        run(store, home, counting, tmp_path / "missing")
    (tmp_path / "a.md").write_text("# A\n\ntext")
    with pytest.raises(RetrievalError, match="reserved"):
        ingest([tmp_path / "a.md"], store=store, collection="x__docs", embedder=counting, home=home, progress=False)
    assert not store.has_collection(COLLECTION)  # nothing was created by the failed calls


def test_manifest_lives_in_a_sidecar_collection(
    tmp_path: Path, home: Path, store: Store, counting: CountingEmbedder
) -> None:
    (tmp_path / "a.md").write_text("# A\n\ntext")
    run(store, home, counting, tmp_path / "a.md")
    assert store.list_collections() == [COLLECTION, manifest_name(COLLECTION)]


def test_counting_embedder_delegates(counting: CountingEmbedder, embedder: SentenceTransformerEmbedder) -> None:
    assert (counting.name, counting.dimension, counting.max_tokens) == (embedder.name, 384, 256)
    assert counting.count_tokens("hello world") == embedder.count_tokens("hello world")
    vectors = counting.embed(["a", "b"], "query")
    assert len(vectors) == 2 and len(vectors[0]) == 384
    assert (counting.calls, counting.texts, counting.kinds) == (1, 2, ["query"])


def test_invalid_collection_name_is_reported_first(tmp_path: Path, home: Path, store: Store) -> None:
    (tmp_path / "a.md").write_text("# A\n\ntext")
    with pytest.raises(RetrievalError, match="Invalid collection name 'm'"):
        ingest([tmp_path / "a.md"], store=store, collection="m", embedder=HashEmbedder(), home=home, progress=False)


def test_any_embedder_works_and_the_hash_embedder_is_sane(tmp_path: Path, home: Path, store: Store) -> None:
    fake = HashEmbedder(dimension=32, max_tokens=24)
    a, b, c = fake.embed(["red apples and pears", "apples and red pears", "diesel engines"])
    assert a == b and len(a) == 32 and abs(sum(x * x for x in a) - 1) < 1e-9
    assert sum(x * y for x, y in zip(a, c, strict=True)) < 0.5
    write_corpus(tmp_path / "corpus")
    report = ingest([tmp_path / "corpus"], store=store, collection="fake", embedder=fake, home=home, progress=False)
    assert report.added == 7
    assert store.get_collection("fake").embedder == "hash-embedder"
    assert_clean(store, home, "fake")
    with pytest.raises(RetrievalError, match="hash-embedder"):  # one collection, one embedding model
        ingest([tmp_path / "corpus"], store=store, collection="fake", embedder=HashEmbedder(name="other"), home=home)


def test_collection_deleted_by_other_code_is_rebuilt(tmp_path: Path, home: Path, store: Store) -> None:
    fake = HashEmbedder()
    (tmp_path / "a.md").write_text("# A\n\ntext", encoding="utf-8")
    ingest([tmp_path / "a.md"], store=store, collection="gone", embedder=fake, home=home, progress=False)
    store.delete_collection("gone")  # the store API knows nothing of the manifest
    again = ingest([tmp_path / "a.md"], store=store, collection="gone", embedder=fake, home=home, progress=False)
    assert (again.added, again.unchanged) == (1, 0)
    assert_clean(store, home, "gone")
