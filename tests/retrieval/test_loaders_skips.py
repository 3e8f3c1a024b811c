"""Files that cannot be used are skipped with the reason (`SkipFile`), never a crash or empty document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_fixtures import make_pdf

from retrieval.loaders import SkipFile, load_file


def _reason(path: Path, **options: int) -> str:
    with pytest.raises(SkipFile) as caught:
        load_file(path, **options)
    return str(caught.value)


def test_binary_file_with_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert _reason(path).startswith("binary")


def test_undecodable_text(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("café crème".encode("latin-1"))
    assert _reason(path).startswith("undecodable")


@pytest.mark.parametrize("content", [b"", b"   \n\t\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.md"
    path.write_bytes(content)
    assert _reason(path) == "empty"


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000)
    assert _reason(path, max_bytes=1000).startswith("oversized")
    assert load_file(path, max_bytes=10_000)  # under the limit it loads


def test_broken_symlink_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "dangling.md"
    path.symlink_to(tmp_path / "missing.md")
    assert _reason(path).startswith("unreadable")


# Permission denied: test_ingest_hostile.test_unreadable_file_as_another_user (runs as root too).


def test_directory_given_as_file(tmp_path: Path) -> None:
    assert _reason(tmp_path) == "is a directory"


def test_broken_pdf(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not really a pdf\n%%EOF\n")
    assert "PDF" in _reason(path) or _reason(path) == "no extractable text"


def test_pdf_without_text(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "scan.pdf", ["", ""])
    assert _reason(path) == "no extractable text"


def test_html_with_only_script(tmp_path: Path) -> None:
    path = tmp_path / "app.html"
    path.write_text("<html><head><script>run()</script></head><body><script>more()</script></body></html>")
    assert _reason(path) == "no extractable text"


def test_jsonl_without_valid_records(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{oops\n[1, 2]\n")
    warnings: list[str] = []
    with pytest.raises(SkipFile, match="no valid records"):
        load_file(path, warn=warnings.append)
    assert len(warnings) == 2


def test_jsonl_limit_applies_per_record_not_per_file(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"id": f"d{i}", "text": f"record number {i} " * 5}) for i in range(50)]
    lines.insert(10, json.dumps({"id": "huge", "text": "x" * 5000}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size > 2000
    warnings: list[str] = []
    documents = load_file(path, max_bytes=2000, warn=warnings.append)
    assert len(documents) == 50 and "huge" not in {d.doc_id for d in documents}
    assert len(warnings) == 1 and warnings[0].startswith(f"{path}:11: line skipped: oversized record")


def test_jsonl_binary_and_empty(tmp_path: Path) -> None:
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b'{"id": "a", "text": "\x00\x01"}\n')
    assert _reason(binary).startswith("binary")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert _reason(empty) == "empty"
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"id": "a", "text": "ok"}\n{"id": "b", "text": "café"}\n'.encode("latin-1"))
    warnings: list[str] = []
    assert [d.doc_id for d in load_file(latin, warn=warnings.append)] == ["a"]
    assert warnings == [f"{latin}:2: line skipped: not UTF-8"]
