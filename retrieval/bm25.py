"""The lexical index: BM25 (`bm25s`) over the chunks of one collection, persisted under `home/bm25/<name>/`.

Layout: `home/bm25/<name>/CURRENT` names the live version directory `v-<token>/` (the bm25s arrays plus
`ids.json` and `meta.json`). A save writes a new version into a temporary directory, renames it into
place, then replaces `CURRENT` atomically (`os.replace`) and removes older versions, so a reader sees the
old or the new index, never a half-written one.

`meta.json` holds a fingerprint of the chunk ids (count + sha256 of the sorted ids). Chunk ids change
when content changes, so `ensure_index` can tell a stale index from the store's ids and rebuild it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.errors import RetrievalError

if TYPE_CHECKING:
    from retrieval.store import ChunkCollection

BM25_DIRNAME = "bm25"
_CURRENT = "CURRENT"
_TOKEN_PATTERN = r"(?u)\b\w+\b"  # keeps one-character tokens ("C", "R", "3") that matter in technical text


def fingerprint(ids: Iterable[str]) -> str:
    ordered = sorted(ids)
    digest = hashlib.sha256("\n".join(ordered).encode("utf-8")).hexdigest()[:32]
    return f"{len(ordered)}:{digest}"


def _bm25s() -> Any:
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import
    return bm25s


def tokenize(texts: list[str]) -> list[list[str]]:
    bm25s = _bm25s()

    tokens = bm25s.tokenize(
        texts,
        lower=True,
        token_pattern=_TOKEN_PATTERN,
        stopwords="en",
        return_ids=False,
        show_progress=False,
    )
    return [list(t) for t in tokens]


class BM25Index:
    """BM25 scores over chunk ids. Build with `build`, query with `search`."""

    def __init__(self, ids: list[str], model: Any | None) -> None:
        self.ids = ids
        self._model = model  # None for an empty index
        self._position = {cid: i for i, cid in enumerate(ids)}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.ids)

    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str]) -> BM25Index:
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
        if not ids:
            return cls([], None)
        model = _bm25s().BM25()
        model.index(tokenize(list(texts)), show_progress=False)
        return cls(list(ids), model)

    def search(self, query: str, k: int, allowed_ids: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """Top `k` (chunk id, BM25 score) with a positive score, best first; only `allowed_ids` if given."""
        import numpy as np

        if self._model is None or k <= 0:
            return []
        token_ids = self._model.get_tokens_ids(tokenize([query])[0])
        if not token_ids:
            return []
        scores = np.asarray(self._model.get_scores_from_ids(token_ids), dtype=np.float32)
        if allowed_ids is not None:
            mask = np.zeros(len(scores), dtype=bool)
            positions = [self._position[i] for i in allowed_ids if i in self._position]
            mask[positions] = True
            scores = np.where(mask, scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if candidates.size > k:
            top = np.argpartition(-scores[candidates], k - 1)[:k]
            candidates = candidates[top]
        # best first; ties broken by position for deterministic results
        order = sorted(candidates.tolist(), key=lambda i: (-float(scores[i]), i))
        return [(self.ids[i], float(scores[i])) for i in order]

    def unknown_terms(self, terms: Iterable[str]) -> list[str]:
        """The `terms` with a token that no indexed chunk contains (tokenized as the chunks were: lower case,
        word characters; a stopword counts as known)."""
        if self._model is None:
            return list(terms)
        vocabulary = self._model.vocab_dict
        return [term for term in terms if any(t not in vocabulary for t in tokenize([term])[0])]

    def scores_for(self, query: str, ids: Iterable[str]) -> dict[str, float]:
        """The BM25 score of each chunk id in `ids` the index holds (0.0 when it shares no term with the query)."""
        import numpy as np

        wanted = [i for i in ids if i in self._position]
        if self._model is None or not wanted:
            return {}
        token_ids = self._model.get_tokens_ids(tokenize([query])[0])
        if not token_ids:
            return dict.fromkeys(wanted, 0.0)
        scores = np.asarray(self._model.get_scores_from_ids(token_ids), dtype=np.float32)
        return {i: float(scores[self._position[i]]) for i in wanted}

    # -- persistence ------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        tmp = directory / f"tmp-{token}"
        tmp.mkdir()
        try:
            if self._model is not None:
                self._model.save(str(tmp), show_progress=False)
            (tmp / "ids.json").write_text(json.dumps(self.ids), encoding="utf-8")
            (tmp / "meta.json").write_text(
                json.dumps({"fingerprint": self.fingerprint, "count": len(self.ids)}), encoding="utf-8"
            )
            version = directory / f"v-{token}"
            os.replace(tmp, version)
            pointer = directory / f"{_CURRENT}.{token}"
            pointer.write_text(version.name, encoding="utf-8")
            os.replace(pointer, directory / _CURRENT)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for old in directory.iterdir():
            if old.is_dir() and old.name.startswith("v-") and old.name != f"v-{token}":
                shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> BM25Index | None:
        """The saved index, or None when there is none (or it vanished under a concurrent save)."""
        for _ in range(3):
            try:
                version = directory / (directory / _CURRENT).read_text(encoding="utf-8").strip()
                ids = json.loads((version / "ids.json").read_text(encoding="utf-8"))
                if not ids:
                    return cls([], None)
                model = _bm25s().BM25.load(str(version), load_corpus=False)
                return cls(ids, model)
            except FileNotFoundError:
                continue
            except (ValueError, OSError) as exc:
                raise RetrievalError(
                    f"The BM25 index in {directory} is damaged ({exc}); delete that directory and it is rebuilt "
                    "from the store on the next search."
                ) from exc
        return None


def index_dir(home: Path, collection: str) -> Path:
    return Path(home) / BM25_DIRNAME / collection


def rebuild_index(home: Path, collection: ChunkCollection, ids: Set[str] | None = None) -> BM25Index:
    """Build BM25 over the collection's chunks and save it. With `ids` (the ingest manifest's chunk ids),
    only those chunks are indexed: leftovers of an interrupted ingest stay out of the index."""
    kept_ids: list[str] = []
    texts: list[str] = []
    for page_ids, page_texts in collection.iter_texts():
        for cid, text in zip(page_ids, page_texts, strict=True):
            if ids is None or cid in ids:
                kept_ids.append(cid)
                texts.append(text)
    index = BM25Index.build(kept_ids, texts)
    index.save(index_dir(home, collection.name))
    return index


def ensure_index(home: Path, collection: ChunkCollection, ids: Set[str] | None = None) -> BM25Index:
    """The saved index if it covers exactly `ids` (default: every chunk id in the store), else a rebuilt one."""
    index = BM25Index.load(index_dir(home, collection.name))
    wanted = ids if ids is not None else collection.ids()
    if index is not None and index.fingerprint == fingerprint(wanted):
        return index
    return rebuild_index(home, collection, ids)


def delete_index(home: Path, collection: str) -> None:
    """Remove a collection's BM25 files (call when the collection is deleted)."""
    shutil.rmtree(index_dir(home, collection), ignore_errors=True)
