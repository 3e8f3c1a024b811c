"""Helpers for the ingest, loader and chunking tests (imported explicitly; not a conftest).

`make_pdf` writes a real, tiny PDF with one text line per page using pypdf's own objects;
`write_corpus` writes one small file per supported format; `check_consistent` asserts the invariant
an interrupted ingest must keep: every manifest record names chunks that all exist in the store and
belong to that record's document version.
"""

from __future__ import annotations

import json
from pathlib import Path

from retrieval.bm25 import BM25Index, fingerprint, index_dir
from retrieval.manifest import Manifest
from retrieval.store import Store


def make_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    """A PDF whose page i shows `pages[i]` in Helvetica (text that pypdf can extract again)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    font_ref = writer._add_object(font)
    for text in pages:
        page = writer.add_blank_page(width=612, height=792)
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 11 Tf 40 750 Td ({escaped}) Tj ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font_ref})}
        )
    if title:
        writer.add_metadata({"/Title": title})
    with path.open("wb") as handle:
        writer.write(handle)
    return path


MARKDOWN = """---
title: Gardening handbook
audience: beginners
---
Intro: this handbook covers soil and watering.

# Soil

Loam soil holds water and air well. Add compost every spring.

## Acidity

Blueberries need acidic soil with a pH between 4.5 and 5.5.

# Watering

Water tomatoes deeply twice a week rather than a little every day.
"""

HTML = """<!doctype html><html><head><title>Bicycle maintenance</title>
<style>p { color: red }</style><script>trackVisitor("secret-token");</script></head>
<body><h1>Chains</h1><p>Lubricate the chain every 300 kilometres with a drip lubricant.</p>
<h2>Wear</h2><p>Replace a chain once it has stretched by 0.5 percent.</p>
<div hidden>invisible text that must not be indexed</div></body></html>
"""

CODE = '''"""Geometry helpers."""

import math


def circle_area(radius):
    """Area of a circle."""
    return math.pi * radius ** 2


class Rectangle:
    def __init__(self, width, height):
        self.width = width
        self.height = height

    def area(self):
        return self.width * self.height
'''

JSONL_RECORDS = [
    {"id": "rec-volcano", "title": "Volcanoes", "text": "Mauna Loa in Hawaii is the largest active volcano.",
     "year": 2021, "tags": ["geology"]},
    {"id": "rec-glacier", "title": "Glaciers", "text": "Glaciers carve U-shaped valleys as they move downhill.",
     "region": "alps"},
]  # fmt: skip

TEXT = "Tea notes\n\nGreen tea should steep at 80 degrees Celsius for two minutes.\n"


def write_jsonl(path: Path, records: list[dict[str, object]], extra_lines: list[str] | None = None) -> Path:
    lines = [json.dumps(r) for r in records] + list(extra_lines or [])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_corpus(root: Path) -> dict[str, Path]:
    """One file per format under `root`; returns name -> path."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "md": root / "garden.md",
        "html": root / "bike.html",
        "py": root / "geometry.py",
        "txt": root / "tea.txt",
        "jsonl": root / "earth.jsonl",
        "pdf": root / "manual.pdf",
    }
    files["md"].write_text(MARKDOWN, encoding="utf-8")
    files["html"].write_text(HTML, encoding="utf-8")
    files["py"].write_text(CODE, encoding="utf-8")
    files["txt"].write_text(TEXT, encoding="utf-8")
    write_jsonl(files["jsonl"], JSONL_RECORDS)
    make_pdf(
        files["pdf"],
        ["The espresso machine heats water to 93 degrees.", "Descale the boiler every two months with citric acid."],
        title="Espresso machine manual",
    )
    return files


def check_consistent(store: Store, home: Path, collection: str) -> Manifest:
    """Every manifest record names existing chunks of its own document version; returns the manifest."""
    manifest = Manifest.open(store, collection, create=False)
    assert manifest is not None
    chunks_col = store.get_collection(collection)
    for entry in manifest.entries.values():
        stored = chunks_col.get(ids=entry.chunk_ids)
        assert [c.id for c in stored] == entry.chunk_ids, f"{entry.doc_id}: chunks missing from the store"
        assert {c.doc_hash for c in stored} == {entry.doc_hash}, f"{entry.doc_id}: chunks of another version"
        assert {c.doc_id for c in stored} == {entry.doc_id}
    return manifest


def assert_clean(store: Store, home: Path, collection: str) -> Manifest:
    """Consistent, no orphan chunks, not dirty, and the BM25 index covers exactly the manifest's chunks."""
    manifest = check_consistent(store, home, collection)
    assert not manifest.dirty
    assert set(store.get_collection(collection).ids()) == manifest.chunk_ids()
    bm25 = BM25Index.load(index_dir(home, collection))
    assert bm25 is not None and bm25.fingerprint == fingerprint(manifest.chunk_ids())
    return manifest
