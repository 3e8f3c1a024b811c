"""Chunking reference manuals: a man page's option list is split per option with the heading path kept, the
page header (NAME, SYNOPSIS) is a chunk of its own, whether the page arrives as HTML sections or as one flat
JSONL record; ordinary prose is chunked as before. Real MiniLM tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.prompts import format_sources
from retrieval.chunking import Chunker, reference_parts
from retrieval.embedder import SentenceTransformerEmbedder
from retrieval.loaders import load_file
from retrieval.types import Chunk

OPTIONS = {
    "-d": "Normally, when no pathspec is specified, the cleaner does not recurse into untracked directories to "
    "avoid removing too much. Specify -d to have it recurse into such directories as well.",
    "-f, --force": "If the configuration variable clean.requireForce is not set to false, the cleaner will refuse "
    "to delete files or directories unless given -f or -i.",
    "-i, --interactive": "Show what would be done and clean files interactively. See the interactive mode "
    "section for details.",
    "-n, --dry-run": "Don't actually remove anything, just show what would be done.",
    "-q, --quiet": "Be quiet, only report errors, but not the files that are successfully removed.",
    "-e <pattern>, --exclude=<pattern>": "Use the given exclude pattern in addition to the standard ignore "
    "rules of the repository.",
    "-x": "Don't use the standard ignore rules read from the per-directory ignore files and the per-clone "
    "exclude file, but do still use the ignore rules given with -e options. This allows removing all untracked "
    "files, including build products, which can be used to create a pristine working directory to test a "
    "clean build.",
    "-X": "Remove only files ignored by the cleaner. This may be useful to rebuild everything from scratch, but "
    "keep manually created files.",
}
DESCRIPTION = (
    "Cleans the working tree by recursively removing files that are not under version control, starting from "
    "the current directory. Normally, only files unknown to the version control system are removed, but if the "
    "-x option is specified, ignored files are also removed. This can, for example, be useful to remove all "
    "build products. If any optional pathspec arguments are given, only those paths that match the pathspec "
    "are affected. " * 2
)
SYNOPSIS = "vcs clean [-d] [-f] [-i] [-n] [-q] [-e <pattern>] [-x | -X] [--] [<pathspec>...]"


def man_page_html() -> str:
    entries = "".join(f"<dt>{term}</dt><dd><p>{text}</p></dd>" for term, text in OPTIONS.items())
    return (
        "<html><head><title>vcs-clean(1) Manual Page</title></head><body>"
        "<h1>vcs-clean(1) Manual Page</h1>"
        "<h2>NAME</h2><p>vcs-clean - Remove untracked files from the working tree</p>"
        f"<h2>SYNOPSIS</h2><pre>{SYNOPSIS}</pre>"
        f"<h2>DESCRIPTION</h2><p>{DESCRIPTION}</p>"
        f"<h2>OPTIONS</h2><dl>{entries}</dl>"
        "</body></html>"
    )


def man_page_text() -> str:
    """The same page as one flat text (a JSONL record): section names on their own lines."""
    options = "\n\n".join(f"{term}\n\n{text}" for term, text in OPTIONS.items())
    return (
        "vcs-clean - Remove untracked files from the working tree\n\n"
        f"NAME\n\nvcs-clean - Remove untracked files\n\nSYNOPSIS\n\n{SYNOPSIS}\n\n"
        f"DESCRIPTION\n\n{DESCRIPTION}\n\nOPTIONS\n\n{options}"
    )


@pytest.fixture(scope="module")
def chunker(embedder: SentenceTransformerEmbedder) -> Chunker:
    return Chunker.for_embedder(embedder)


def chunk_file(chunker: Chunker, path: Path) -> list[Chunk]:
    [document] = load_file(path)
    chunks = chunker.chunk(document)
    for chunk in chunks:  # every chunk is still an exact slice of the document and fits the embedder
        assert document.text[chunk.start : chunk.end] == chunk.text
        assert chunker.count_tokens(chunk.text) <= chunker.budget
    return chunks


def option_chunk(chunks: list[Chunk], term: str) -> Chunk:
    [chunk] = [c for c in chunks if c.heading_path and c.heading_path[-1] == term]
    return chunk


def test_an_html_option_list_is_split_per_option_with_the_heading_path(chunker: Chunker, tmp_path: Path) -> None:
    path = tmp_path / "vcs-clean.html"
    path.write_text(man_page_html(), encoding="utf-8")
    chunks = chunk_file(chunker, path)
    x = option_chunk(chunks, "-x")
    assert x.heading_path == ["vcs-clean(1) Manual Page", "OPTIONS", "-x"]
    assert x.text.startswith("-x\n\nDon't use the standard ignore rules") and "per-clone exclude file" in x.text
    assert "Remove only files ignored" not in x.text  # -X is its own entry
    assert option_chunk(chunks, "-n, --dry-run").text.endswith("just show what would be done.")
    # the source header the answer prompt shows says which option the text is about
    header = format_sources(
        [{"title": x.title, "source": "vcs-clean.html", "heading_path": x.heading_path, "text": x.text}]
    )
    assert header.startswith("[1] vcs-clean(1) Manual Page > OPTIONS > -x (vcs-clean.html)\n-x")


def test_a_flat_man_page_record_gets_its_sections_and_options_back(chunker: Chunker, tmp_path: Path) -> None:
    path = tmp_path / "pages.jsonl"
    record = {"id": "vcs-clean", "title": "vcs-clean(1) Manual Page", "text": man_page_text()}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    chunks = chunk_file(chunker, path)
    # the page header is a chunk of its own: no option or description chunk starts with it or carries it
    synopsis = [c for c in chunks if "SYNOPSIS" in c.text]
    assert [c.heading_path for c in synopsis] == [["SYNOPSIS"]]
    assert all(c.heading_path[:1] in (["NAME"], ["SYNOPSIS"], []) for c in chunks if SYNOPSIS in c.text)
    x = option_chunk(chunks, "-x")
    assert x.heading_path == ["OPTIONS", "-x"] and x.text.startswith("-x\n\nDon't use the standard ignore rules")
    assert {tuple(c.heading_path) for c in chunks} >= {("OPTIONS", term) for term in OPTIONS}


def test_prose_and_short_lists_are_chunked_as_before(chunker: Chunker, tmp_path: Path) -> None:
    short = "OPTIONS\n\n-n\n\nDry run.\n\n-f\n\nForce.\n\n-x\n\nAlso ignored files."
    assert chunker.count_tokens(short) < chunker.budget
    path = tmp_path / "short.md"
    path.write_text(short, encoding="utf-8")
    [chunk] = chunk_file(chunker, path)  # under one chunk's budget: one chunk
    assert chunk.heading_path == []
    prose = "Retrieval finds passages. " * 10 + "\n\n" + "Ranking orders them by score. " * 40
    assert reference_parts(prose) == [(0, len(prose), [])]


NAV = "".join(
    f"<div><a href='#'>{item}</a></div>"
    for item in ["Home", "Menu", "About", "Documentation", "Download", "License", "Support"]
)


def test_site_navigation_before_the_first_heading_is_not_chunked(chunker: Chunker, tmp_path: Path) -> None:
    path = tmp_path / "autoinc.html"
    path.write_text(
        f"<html><body><div>Small. Fast. Reliable.</div>{NAV}<h1>Autoincrement</h1>"
        "<p>The AUTOINCREMENT keyword imposes extra CPU, memory, disk space, and disk I/O overhead.</p></body></html>",
        encoding="utf-8",
    )
    chunks = chunk_file(chunker, path)
    assert [c.heading_path for c in chunks] == [["Autoincrement"]]
    assert not any("Download" in c.text for c in chunks)
    # a page that is nothing but such a list keeps it (no document loses all its text)
    only = tmp_path / "links.html"
    only.write_text(f"<html><body>{NAV}{NAV}</body></html>", encoding="utf-8")
    assert len(chunk_file(chunker, only)) == 1
