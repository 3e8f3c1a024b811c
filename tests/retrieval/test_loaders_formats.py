"""Loaders: each format's text, title, structure (heading path, page) and metadata; offsets of sections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_fixtures import JSONL_RECORDS, make_pdf, write_corpus, write_jsonl

from retrieval.loaders import Document, discover, document_id, file_key, load_file


def _load_one(path: Path) -> Document:
    documents = load_file(path)
    assert len(documents) == 1
    return documents[0]


def _check_offsets(doc: Document) -> None:
    for section in doc.sections:
        assert doc.text[section.start : section.start + len(section.text)] == section.text


def test_markdown_front_matter_headings_and_metadata(tmp_path: Path) -> None:
    files = write_corpus(tmp_path)
    doc = _load_one(files["md"])
    assert doc.title == "Gardening handbook"
    assert doc.format == "markdown"
    assert doc.metadata == {"audience": "beginners"}
    assert doc.origin == file_key(files["md"])
    assert doc.doc_id == f"{tmp_path.name}/garden.md"  # a file named directly: led by its folder's name
    paths = [s.heading_path for s in doc.sections]
    assert paths == [[], ["Soil"], ["Soil", "Acidity"], ["Watering"]]
    assert "title: Gardening" not in doc.text  # front matter is not text
    assert doc.sections[2].text.startswith("## Acidity")
    _check_offsets(doc)


def test_markdown_title_from_h1_fences_and_setext(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(
        "# Real Title\n\nBody.\n\n```sh\n# a comment, not a heading\necho hi\n```\n\nOther\n-----\n\nSetext body.\n"
        "\n## Empty heading\n### Child\n\nChild text.\n",
        encoding="utf-8",
    )
    doc = _load_one(path)
    assert doc.title == "Real Title"
    assert [s.heading_path for s in doc.sections] == [
        ["Real Title"],
        ["Real Title", "Other"],
        ["Real Title", "Empty heading", "Child"],  # a setext "-----" heading is level 2, like "##"
    ]
    assert "# a comment, not a heading" in doc.sections[0].text
    # a heading with nothing under it travels with the next section instead of becoming a lone chunk
    assert doc.sections[2].text.startswith("## Empty heading\n### Child")


def test_markdown_without_headings_uses_file_name(tmp_path: Path) -> None:
    path = tmp_path / "release_notes.md"
    path.write_text("Just a paragraph.\n", encoding="utf-8")
    assert _load_one(path).title == "release notes"


def test_html_visible_text_title_and_headings(tmp_path: Path) -> None:
    doc = _load_one(write_corpus(tmp_path)["html"])
    assert doc.title == "Bicycle maintenance"
    assert doc.format == "html"
    assert "trackVisitor" not in doc.text and "color: red" not in doc.text
    assert "invisible text" not in doc.text
    assert [s.heading_path for s in doc.sections] == [["Chains"], ["Chains", "Wear"]]
    assert "300 kilometres" in doc.sections[0].text
    assert "0.5 percent" in doc.sections[1].text
    _check_offsets(doc)


def test_html_inline_elements_join_with_spaces(tmp_path: Path) -> None:
    path = tmp_path / "inline.htm"
    path.write_text("<p>Use <b>bold</b> and <a href='#'>links</a>.</p><ul><li>one</li><li>two</li></ul>")
    doc = _load_one(path)
    assert doc.title == "inline"
    assert doc.text == "Use bold and links.\n\none\n\ntwo"


def test_pdf_pages_and_title(tmp_path: Path) -> None:
    doc = _load_one(write_corpus(tmp_path)["pdf"])
    assert doc.format == "pdf"
    assert doc.title == "Espresso machine manual"
    assert [s.page for s in doc.sections] == [1, 2]
    assert "93 degrees" in doc.sections[0].text
    assert "citric acid" in doc.sections[1].text
    assert doc.metadata["pages"] == 2
    _check_offsets(doc)


def test_pdf_blank_pages_are_dropped_but_numbers_kept(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "gaps.pdf", ["first page", "", "third page"])
    doc = _load_one(path)
    assert [(s.page, s.text) for s in doc.sections] == [(1, "first page"), (3, "third page")]
    assert doc.title == "gaps"


def test_code_splits_on_top_level_definitions(tmp_path: Path) -> None:
    doc = _load_one(write_corpus(tmp_path)["py"])
    assert doc.format == "code"
    assert doc.metadata == {"language": "python"}
    assert doc.title == "geometry.py"
    assert [s.heading_path for s in doc.sections] == [[], ["def circle_area(radius)"], ["class Rectangle"]]
    assert doc.sections[0].text.startswith('"""Geometry helpers."""')
    # the method after a blank line stays inside its class
    assert "def area(self)" in doc.sections[2].text


def test_text_title_from_first_line(tmp_path: Path) -> None:
    doc = _load_one(write_corpus(tmp_path)["txt"])
    assert doc.title == "Tea notes"
    assert doc.format == "text"
    assert "80 degrees Celsius" in doc.text


def test_jsonl_records_are_documents_with_metadata(tmp_path: Path) -> None:
    path = write_corpus(tmp_path)["jsonl"]
    documents = load_file(path)
    assert [d.doc_id for d in documents] == ["rec-volcano", "rec-glacier"]
    volcano = documents[0]
    assert volcano.title == "Volcanoes"
    assert volcano.text == "Volcanoes\n\nMauna Loa in Hawaii is the largest active volcano."
    assert volcano.metadata == {"year": 2021, "record_id": "rec-volcano"}  # lists are not scalar
    assert volcano.origin == file_key(path)
    assert volcano.source == f"{path}#rec-volcano"
    assert documents[1].metadata["region"] == "alps"
    # the hash is per record: editing one record leaves the other's hash alone
    changed = [dict(JSONL_RECORDS[0], text="Kilauea is very active."), JSONL_RECORDS[1]]
    again = load_file(write_jsonl(path, changed))
    assert again[0].doc_hash != volcano.doc_hash
    assert again[1].doc_hash == documents[1].doc_hash


def test_jsonl_bad_lines_are_skipped_with_line_numbers(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [{"_id": 7, "text": "beir style id"}],
        [
            "{not json",
            json.dumps(["a", "list"]),
            json.dumps({"title": "no id", "text": "x"}),
            json.dumps({"id": "empty", "text": "  "}),
            json.dumps({"id": "7", "text": "same id again"}),
            "",
            json.dumps({"id": "ok", "text": "fine"}),
        ],
    )
    warnings: list[str] = []
    documents = load_file(path, warn=warnings.append)
    assert [d.doc_id for d in documents] == ["7", "ok"]
    assert len(warnings) == 5
    expected = ["malformed JSON", "not a JSON object", "no 'id'", "no 'text'", "repeats an earlier line"]
    for line_number, (warning, reason) in enumerate(zip(warnings, expected, strict=True), start=2):
        assert warning.startswith(f"{path}:{line_number}: line skipped")
        assert reason in warning


def test_discover_walks_sorted_skips_hidden_and_applies_glob(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / ".hidden.md").write_text("h")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.md").write_text("g")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.md").write_text("c")
    names = [f.path.relative_to(tmp_path).as_posix() for f in discover([tmp_path])]
    assert names == ["a.txt", "b.md", "sub/c.md"]
    assert [f.path.name for f in discover([tmp_path], glob="*.md")] == ["b.md", "c.md"]
    assert [f.path.name for f in discover([tmp_path], glob="sub/*")] == ["c.md"]
    # a file given directly is taken whatever the glob, and only once
    assert [f.path.name for f in discover([tmp_path / "a.txt", tmp_path / "a.txt"], glob="*.md")] == ["a.txt"]


@pytest.mark.parametrize("suffix", [".md", ".txt", ".html", ".py", ".jsonl"])
def test_crlf_and_bom_are_normalized(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"win{suffix}"
    body = '{"id": "w", "text": "line one"}' if suffix == ".jsonl" else "line one\r\n\r\nline two\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    doc = load_file(path)[0]
    assert "\r" not in doc.text and "\ufeff" not in doc.text
    assert "line one" in doc.text


def test_html_pre_keeps_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "code.html"
    path.write_text("<h1>Run</h1><pre><code>make install\nmake   demo\n</code></pre><p>Then   wait.</p>")
    doc = _load_one(path)
    assert doc.text == "Run\n\nmake install\nmake   demo\n\nThen wait."


def test_sources_are_absolute_whatever_the_path_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\ntext")
    monkeypatch.chdir(tmp_path)
    doc = _load_one(Path("docs/a.md"))
    assert doc.source == doc.origin == (tmp_path / "docs" / "a.md").as_posix()
    assert doc.doc_id == "docs/a.md"


def test_document_ids_are_relative_to_the_ingested_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for place in ("here", "there"):
        (tmp_path / place / "docs" / "guide").mkdir(parents=True)
        (tmp_path / place / "docs" / "guide" / "intro.md").write_text("# Intro\n\ntext")
    ids = set()
    for place in ("here", "there"):
        root = tmp_path / place / "docs"
        ids |= {found.doc_id for found in discover([root])}
        monkeypatch.chdir(tmp_path / place)
        ids |= {found.doc_id for found in discover([Path("docs")])}
    assert ids == {"docs/guide/intro.md"}
    intro = tmp_path / "here" / "docs" / "guide" / "intro.md"
    assert document_id(intro, intro) == "guide/intro.md"  # named directly: led by its own folder's name
