"""Documentation corpora for the reranker recipe, loaded into `Passage`s.

Known corpora come from Debian packages: `python` (python3.11-doc), `postgres` (postgresql-doc-15) and
`git` (git-doc, held out: evaluation only, training on it is refused). Any directory works too.
Index, search, changelog and release-note pages are skipped; HTML navigation (sidebars, prev/next bars,
footers, permalink marks) is removed before the project's HTML loader splits a page into sections.

Sampling is deterministic: each document's sections are shuffled with a generator seeded by the seed and
the document id, chunked with the project's chunker (at most `max_per_doc` passages per document), and a
seeded sample of `limit` passages is kept, in corpus order.
"""

from __future__ import annotations

import fnmatch
import hashlib
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from retrieval.chunking import Chunker
from retrieval.errors import RetrievalError
from retrieval.loaders import SkipFile, discover, load_file
from retrieval.loaders.base import DEFAULT_MAX_BYTES, Document, Section, content_hash, make_document, read_text
from retrieval.types import Chunk

Progress = Callable[[int, int], None]  # (files done, files in all)

MIN_PASSAGE_WORDS = 25
NAV_HEADINGS = {"table of contents", "previous topic", "next topic", "this page", "navigation", "quick search"}
BOILERPLATE = (
    ".related, .sphinxsidebar, .footer, .headerlink, .mobile-nav, .inline-search, .navheader, .navfooter, "
    "#footer, [role=navigation], [role=search], div[aria-label='source link']"
)
MAIN_CONTENT = ("[role=main]", "div#content", "body")
SECTION_NUMBER = re.compile(r"^(?:[A-Z]\.)?\d+(?:\.\d+)*\.\s+")
TITLE_SUFFIX = re.compile(r"\s+[—-]\s+Python [\d.]+ documentation$")  # Sphinx: "json — ... — Python 3.11.2 ..."


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    root: Path
    package: str | None = None  # the Debian package that installs it
    include: tuple[str, ...] = ("*",)  # patterns of paths relative to the root
    exclude: tuple[str, ...] = ()
    held_out: bool = False  # evaluation only


KNOWN_CORPORA: dict[str, CorpusSpec] = {
    "python": CorpusSpec(
        "python",
        Path("/usr/share/doc/python3.11/html"),
        "python3.11-doc",
        include=("*.html",),
        exclude=(
            "_*",
            "genindex*",
            "search.html",
            "py-modindex.html",
            "contents.html",
            "copyright.html",
            "license.html",
            "about.html",
            "bugs.html",
            "download.html",
            "whatsnew/*",
        ),
    ),
    "postgres": CorpusSpec(
        "postgres",
        Path("/usr/share/doc/postgresql-doc-15/html"),
        "postgresql-doc-15",
        include=("*.html",),
        exclude=("bookindex.html", "release*.html", "index.html", "legalnotice.html", "biblio.html"),
    ),
    "git": CorpusSpec(
        "git",
        Path("/usr/share/doc/git-doc"),
        "git-doc",
        include=("*.html",),  # the .txt files are the AsciiDoc sources of the same pages
        exclude=("RelNotes/*", "*RelNotes*"),
        held_out=True,
    ),
}


@dataclass(frozen=True)
class Passage:
    """A chunk of a document: what a question is written from and what the reranker scores."""

    id: str
    doc_id: str  # relative path (or the store's document id); the split into train/dev is by this
    title: str
    heading_path: tuple[str, ...]
    text: str
    corpus: str = ""
    opens_section: bool = True  # the first chunk of its section (its text starts with the heading)


def resolve_corpus(value: str, *, for_training: bool) -> CorpusSpec:
    """A known corpus by name or a directory; a missing one names the apt package to install."""
    spec = KNOWN_CORPORA.get(value.lower())
    if spec is None:
        path = Path(value).expanduser()
        if not path.is_dir():
            raise RetrievalError(
                f"No corpus {value!r}: use {', '.join(KNOWN_CORPORA)} (Debian documentation packages) or an "
                "existing directory."
            )
        spec = CorpusSpec(path.resolve().name, path.resolve())
        git_root = KNOWN_CORPORA["git"].root
        if for_training and spec.root.is_relative_to(git_root.resolve()):
            spec = CorpusSpec(spec.name, spec.root, held_out=True)
    if for_training and spec.held_out:
        raise RetrievalError(
            f"The {spec.name} documentation ({spec.root}) is held out for evaluation: training on it would leak "
            "the test set. Train on python, postgres or your own directory, and evaluate on git with "
            "`ragloop reranker make-dataset --corpus git`."
        )
    if spec.package and (not spec.root.is_dir() or not any(spec.root.iterdir())):
        raise RetrievalError(
            f"The {spec.name} documentation is not installed ({spec.root} is missing): install it with "
            f"`sudo apt-get install {spec.package}` (or `make reranker-data` for all three corpora)."
        )
    return spec


def corpus_files(spec: CorpusSpec) -> list[tuple[Path, str]]:
    """(path, path relative to the root) of the corpus's documents, in a stable order."""
    out: list[tuple[Path, str]] = []
    for found in discover([spec.root]):
        relative = found.path.relative_to(spec.root).as_posix() if found.path != spec.root else found.path.name
        if not any(fnmatch.fnmatch(relative, p) for p in spec.include):
            continue
        if any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(Path(relative).name, p) for p in spec.exclude):
            continue
        out.append((found.path, relative))
    return out


def clean_heading(text: str) -> str:
    """A heading without permalink marks and section numbers ("28.4.2. Indexes ¶" -> "Indexes")."""
    text = text.replace("¶", "").replace("\xa0", " ").strip()
    return SECTION_NUMBER.sub("", text).strip()


def read_html_page(path: Path, doc_id: str) -> Document:
    """An HTML page's main content, navigation and permalink marks removed, parsed by the project's loader."""
    from bs4 import BeautifulSoup

    from retrieval.loaders.html import parse_html

    markup, data = read_text(path, DEFAULT_MAX_BYTES)
    soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title")
    for element in soup.select(BOILERPLATE):
        element.decompose()
    main = next((found for found in (soup.select_one(s) for s in MAIN_CONTENT) if found is not None), soup)
    head = f"<title>{title_tag.get_text(' ', strip=True)}</title>" if title_tag else ""
    title, sections = parse_html(f"<html><head>{head}</head><body>{main}</body></html>")
    for section in sections:
        section.heading_path = [clean_heading(h) for h in section.heading_path]
    return make_document(
        doc_id=doc_id,
        source=str(path),
        title=clean_heading(TITLE_SUFFIX.sub("", title)) or path.stem,
        sections=sections,
        doc_hash=content_hash(data),
        format="html",
    )


def read_document(path: Path, doc_id: str) -> Document | None:
    """The document of one corpus file (None when the loaders skip it or it has several records)."""
    try:
        if path.suffix.lower() in (".html", ".htm"):
            return read_html_page(path, doc_id)
        documents = load_file(path)
    except SkipFile:
        return None
    if len(documents) != 1:
        return None
    document = documents[0]
    document.doc_id = doc_id
    return document


def is_content(section: Section) -> bool:
    heading = section.heading_path[-1].lower() if section.heading_path else ""
    return heading not in NAV_HEADINGS and len(section.text.split()) >= MIN_PASSAGE_WORDS


def passage_id(corpus: str, doc_id: str, offset: int) -> str:
    return hashlib.sha1(f"{corpus}\x00{doc_id}\x00{offset}".encode()).hexdigest()[:16]


def document_passages(
    document: Document, chunker: Chunker, *, corpus: str, max_per_doc: int, rng: random.Random
) -> list[Passage]:
    """Up to `max_per_doc` passages of a document, from its sections in a seeded random order."""
    sections = [s for s in document.sections if is_content(s)]
    rng.shuffle(sections)
    picked: list[tuple[int, Passage]] = []  # (offset in the document, passage)
    for section in sections:
        single = Document(document.doc_id, document.source, document.title, [section], document.doc_hash, "")
        for chunk in chunker.chunk(single):
            if len(picked) >= max_per_doc:
                break
            if len(chunk.text.split()) >= MIN_PASSAGE_WORDS:
                picked.append((chunk.start, to_passage(chunk, corpus, opens_section=chunk.start == section.start)))
        if len(picked) >= max_per_doc:
            break
    return [passage for _, passage in sorted(picked, key=lambda item: item[0])]


def to_passage(chunk: Chunk, corpus: str, *, opens_section: bool) -> Passage:
    return Passage(
        id=passage_id(corpus, chunk.doc_id, chunk.start),
        doc_id=chunk.doc_id,
        title=chunk.title,
        heading_path=tuple(chunk.heading_path),
        text=chunk.text,
        corpus=corpus,
        opens_section=opens_section,
    )


def load_passages(
    spec: CorpusSpec,
    chunker: Chunker,
    *,
    max_per_doc: int = 12,
    limit: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[Passage]:
    """The corpus's passages: at most `max_per_doc` per document, then a seeded sample of `limit`."""
    files = corpus_files(spec)
    if not files:
        raise RetrievalError(f"No documents found under {spec.root} for the {spec.name} corpus.")
    passages: list[Passage] = []
    for done, (path, relative) in enumerate(files, start=1):
        document = read_document(path, relative)
        if document is not None:
            rng = random.Random(f"{seed}:{relative}")
            passages += document_passages(document, chunker, corpus=spec.name, max_per_doc=max_per_doc, rng=rng)
        if progress:
            progress(done, len(files))
    return sample_passages(passages, limit, seed)


def sample_passages(passages: list[Passage], limit: int | None, seed: int) -> list[Passage]:
    """A seeded sample of `limit` passages in their original order (all of them without a limit)."""
    if limit is None or len(passages) <= limit:
        return passages
    keep = set(random.Random(seed).sample(range(len(passages)), limit))
    return [p for i, p in enumerate(passages) if i in keep]


def _plain(line: str) -> str:
    return " ".join(line.strip().lstrip("#").split()).lower()


def leading_headings(text: str, headings: Iterable[str]) -> tuple[set[str], str]:
    """The headings among the text's first lines (Markdown `#` marks ignored), and the text after them."""
    names = {_plain(h) for h in headings if h.strip()}
    lines = text.strip().split("\n")
    found: set[str] = set()
    i = 0
    while i < len(lines) and (not lines[i].strip() or _plain(lines[i]) in names):
        found.add(_plain(lines[i]))
        i += 1
    return found - {""}, "\n".join(lines[i:]).strip()


def passages_from_chunks(chunks: Iterable[Chunk], corpus: str) -> list[Passage]:
    """Passages from a collection's stored chunks (domain adaptation); short chunks are left out. A chunk
    opens its section when its first lines include its own heading."""
    out = []
    for chunk in chunks:
        if len(chunk.text.split()) < MIN_PASSAGE_WORDS:
            continue
        found, _ = leading_headings(chunk.text, [*chunk.heading_path, chunk.title])
        opens = bool(chunk.heading_path) and _plain(chunk.heading_path[-1]) in found
        out.append(to_passage(chunk, corpus, opens_section=opens))
    return sorted(out, key=lambda p: (p.doc_id, p.id))
