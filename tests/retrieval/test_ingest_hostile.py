"""Real ingests (embedded Chroma, the package's HashEmbedder) of folders a hostile-but-fair user might hand
over: special files, links out of the folder, absurd nesting. One file never stalls or aborts an ingest."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_fixtures import assert_clean

from retrieval.errors import RetrievalError
from retrieval.ingest import IngestReport, ingest
from retrieval.loaders import Found, SkipFile, file_key, load_file
from retrieval.loaders.base import read_bytes
from retrieval.store import Store, open_store
from retrieval.testing import HashEmbedder

COLLECTION = "hostile"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with open_store(home) as opened:
        yield opened


def run(store: Store, home: Path, *paths: Path, **options: object) -> IngestReport:
    return ingest(
        list(paths), store=store, collection=COLLECTION, embedder=HashEmbedder(), home=home, progress=False, **options
    )  # type: ignore[arg-type]


def _folder(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "good.md").write_text("# Good\n\nA normal document about tea.", encoding="utf-8")
    return root


def _reasons(report: IngestReport) -> dict[str, str]:
    return {w.split(": skipped: ")[0].rsplit("/", 1)[-1]: w.split(": skipped: ")[1] for w in report.warnings}


def test_symlink_to_dev_zero_is_never_read(tmp_path: Path, home: Path, store: Store) -> None:
    root = _folder(tmp_path / "docs")
    (root / "zero.txt").symlink_to("/dev/zero")
    report = run(store, home, root)
    assert (report.added, report.skipped) == (1, 1)
    assert _reasons(report)["zero.txt"].startswith("symlink pointing outside the ingested folder")
    followed = run(store, home, root, follow_symlinks=True)  # followed: still not a regular file
    assert (followed.unchanged, followed.skipped) == (1, 1)
    assert _reasons(followed)["zero.txt"] == "not a regular file (character device)"
    assert_clean(store, home, COLLECTION)


def test_fifo_does_not_hang_the_ingest(tmp_path: Path, home: Path, store: Store) -> None:
    root = _folder(tmp_path / "docs")
    fifo = root / "pipe.txt"
    os.mkfifo(fifo)
    unblock = threading.Timer(60, lambda: os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # fail, not hang, if it blocks
    unblock.daemon = True
    unblock.start()
    try:
        report = run(store, home, root)
    finally:
        unblock.cancel()
    assert (report.added, report.skipped) == (1, 1)
    assert _reasons(report)["pipe.txt"] == "not a regular file (named pipe)"
    with pytest.raises(SkipFile, match="named pipe"):
        load_file(fifo)  # named directly too


def test_reads_stop_at_the_limit_whatever_the_size_claims(tmp_path: Path) -> None:
    maps = Path("/proc/self/maps")  # a regular file that reports size 0 but holds kilobytes
    assert maps.stat().st_size == 0
    with pytest.raises(SkipFile, match=r"oversized \(more than"):
        read_bytes(maps, 100)


def test_symlinks_out_of_the_folder_are_skipped_unless_followed(tmp_path: Path, home: Path, store: Store) -> None:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("Secret\n\nThe token is hunter2.", encoding="utf-8")
    (tmp_path / "outside" / "more.md").write_text("# More\n\nAlso outside.", encoding="utf-8")
    root = _folder(tmp_path / "docs")
    (root / "passwd.txt").symlink_to(secret)
    (root / "linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "inside.md").symlink_to(root / "good.md")  # stays inside: read
    (root / "loop").symlink_to(root, target_is_directory=True)  # inside, a cycle: never walked twice

    report = run(store, home, root)
    reasons = _reasons(report)
    assert (report.added, report.skipped) == (2, 2)
    assert reasons["passwd.txt"].startswith("symlink pointing outside the ingested folder")
    assert "--follow-symlinks" in reasons["passwd.txt"] and "folder" in reasons["linked"]
    assert "2 symlink pointing outside the ingested folder" in report.summary()
    texts = " ".join(c.text for c in store.get_collection(COLLECTION).get())
    assert "hunter2" not in texts

    followed = run(store, home, root, follow_symlinks=True)
    assert (followed.added, followed.skipped) == (3, 0)  # passwd.txt, linked/more.md, linked/secret.txt
    assert "hunter2" in " ".join(c.text for c in store.get_collection(COLLECTION).get())
    assert_clean(store, home, COLLECTION)


def test_deep_html_is_read_and_deep_jsonl_line_is_skipped(tmp_path: Path, home: Path, store: Store) -> None:
    root = _folder(tmp_path / "docs")
    (root / "deep.html").write_text(
        "<html><body>" + "<div>" * 1000 + "<p>Deep paragraph about kites.</p>" + "</div>" * 1000 + "</body></html>",
        encoding="utf-8",
    )
    lines = [
        json.dumps({"id": "a", "text": "first record"}),
        '{"id": "deep", "text": ' + "[" * 100_000 + "]" * 100_000 + "}",
        json.dumps({"id": "b", "text": "last record"}),
    ]
    (root / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = run(store, home, root)
    assert (report.added, report.skipped) == (4, 0)  # good.md, deep.html, records a and b
    assert report.warnings == [f"{root / 'records.jsonl'}:2: line skipped: JSON nested too deeply to read"]
    html = [c for c in store.get_collection(COLLECTION).get() if c.doc_id == "docs/deep.html"]
    assert "Deep paragraph about kites." in html[0].text
    assert_clean(store, home, COLLECTION)


def test_one_file_whose_parser_recurses_is_skipped_alone(
    tmp_path: Path, home: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval import loaders

    root = _folder(tmp_path / "docs")
    (root / "bomb.txt").write_text("x", encoding="utf-8")

    def recursing(path: Path, doc_id: str, **options: object) -> list[object]:
        def down(n: int) -> int:
            return down(n + 1) + 1

        return [down(0)]

    monkeypatch.setitem(loaders.LOADERS, ".txt", recursing)  # a loader that is a bug: one file skipped
    report = run(store, home, root)
    assert (report.added, report.skipped) == (1, 1)
    assert _reasons(report)["bomb.txt"] == "nested too deeply to parse"


def test_same_folder_from_another_location_is_unchanged(tmp_path: Path, home: Path, store: Store) -> None:
    first = _folder(tmp_path / "a" / "docs")
    (first / "sub").mkdir()
    (first / "sub" / "more.md").write_text("# More\n\nSecond document.", encoding="utf-8")
    assert run(store, home, first).added == 2
    moved = tmp_path / "b" / "docs"
    moved.parent.mkdir()
    first.rename(moved)
    again = run(store, home, moved)
    assert (again.added, again.unchanged, again.chunks) == (0, 2, 0)
    manifest = assert_clean(store, home, COLLECTION)
    assert set(manifest.entries) == {"docs/good.md", "docs/sub/more.md"}
    assert {e.origin for e in manifest.entries.values()} == {
        file_key(moved / "good.md"),
        file_key(moved / "sub/more.md"),
    }
    sources = {c.source for c in store.get_collection(COLLECTION).get()}  # citations name the new place
    assert sources == {str(moved / "good.md"), str(moved / "sub" / "more.md")}
    (moved / "sub" / "more.md").unlink()
    assert run(store, home, moved, prune=True).deleted == 1  # prune follows the new location


def test_absolute_ids_of_an_older_collection_are_migrated(
    tmp_path: Path, home: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _folder(tmp_path / "docs")
    with monkeypatch.context() as old:  # what ragloop wrote before ids were relative
        old.setattr(Found, "doc_id", property(lambda self: file_key(self.path)))
        run(store, home, root)
    assert set(assert_clean(store, home, COLLECTION).entries) == {file_key(root / "good.md")}
    report = run(store, home, root)
    assert (report.added, report.deleted) == (1, 1)
    assert any("absolute-path ids" in w for w in report.warnings)
    assert set(assert_clean(store, home, COLLECTION).entries) == {"docs/good.md"}
    assert run(store, home, root).unchanged == 1


def test_glob_matching_nothing_is_an_error_and_creates_nothing(tmp_path: Path, home: Path, store: Store) -> None:
    root = _folder(tmp_path / "docs")
    with pytest.raises(RetrievalError, match=r"matches --glob '\*\.rst'"):
        run(store, home, root, glob="*.rst")
    assert store.list_collections() == []


def test_unreadable_file_as_another_user(tmp_path: Path) -> None:
    """Runs as root too (CI does): the read happens in a forked child that drops to an unprivileged user."""
    secret = tmp_path / "secret.md"
    secret.write_text("# secret")
    secret.chmod(0)
    opened = []  # the child must reach the file (search permission on its folders); only the file is closed
    for folder in [tmp_path, *tmp_path.parents]:
        mode = folder.stat().st_mode
        if folder.stat().st_uid == os.geteuid() and not mode & 0o001:
            folder.chmod(mode | 0o001)
            opened.append((folder, mode))
    try:
        outcome = _load_as_nobody(secret)
    finally:
        for folder, mode in opened:
            folder.chmod(mode)
    assert outcome == "unreadable (permission denied)"


def _load_as_nobody(path: Path) -> str:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, try, report through the pipe, never return into pytest
        outcome = "no error"
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setegid(65534)
                os.seteuid(65534)  # nobody
            load_file(path)
        except SkipFile as exc:
            outcome = str(exc)
        except BaseException as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(write_end, outcome.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        outcome = reader.read().decode()
    os.waitpid(pid, 0)
    return outcome


def test_heading_with_a_long_run_of_spaces_is_read_in_linear_time(tmp_path: Path) -> None:
    path = tmp_path / "spaces.md"
    path.write_text("# Title ##\n\ntext\n\n# a" + " " * 300_000 + "b\n\nbody\n\n## Learn C#\n\nmore", encoding="utf-8")
    loaded: list[object] = []
    reader = threading.Thread(target=lambda: loaded.extend(load_file(path)), daemon=True)
    reader.start()
    reader.join(120)  # a hang guard: it takes milliseconds; the old quadratic heading regex took about 20 minutes
    assert loaded, "reading the file did not finish"
    paths = [section.heading_path for section in loaded[0].sections]  # type: ignore[attr-defined]
    assert paths[0] == ["Title"] and paths[-1][-1] == "Learn C" and paths[1][0].startswith("a ")


def test_a_huge_document_is_written_as_it_is_embedded(tmp_path: Path, home: Path, store: Store) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "huge.txt").write_text(
        "\n\n".join(f"Paragraph {i} talks about topic {i % 7} at some length." for i in range(300)), encoding="utf-8"
    )
    seen: list[int] = []
    inner = HashEmbedder(max_tokens=32)

    class Watching:  # the Embedder interface; notes how many chunks are stored before each embed call
        name, dimension, max_tokens = inner.name, inner.dimension, inner.max_tokens

        def embed(self, texts: list[str], kind: str = "document") -> list[list[float]]:
            if store.has_collection(COLLECTION):
                seen.append(store.get_collection(COLLECTION).count())
            return inner.embed(texts, kind)  # type: ignore[arg-type]

        def count_tokens(self, text: str) -> int:
            return inner.count_tokens(text)

    report = ingest(
        [root], store=store, collection=COLLECTION, embedder=Watching(), home=home, embed_batch=8, progress=False
    )  # type: ignore[arg-type]
    assert report.chunks > 24 and len(seen) == -(-report.chunks // 8)
    assert seen == [8 * i for i in range(len(seen))]  # each batch was stored before the next was embedded
    assert_clean(store, home, COLLECTION)
