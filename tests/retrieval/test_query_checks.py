"""Search inputs are checked before Chroma sees them: clear `RetrievalError`s instead of OverflowError or
RecursionError tracebacks; and a collection whose last ingest did not finish is reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retrieval.errors import RetrievalError
from retrieval.ingest import ingest
from retrieval.manifest import Manifest, interrupted_ingest_warning
from retrieval.query_checks import MAX_K, MAX_WHERE_DEPTH, check_k, check_query, check_where
from retrieval.store import open_store
from retrieval.testing import HashEmbedder


@pytest.mark.parametrize("query", ["", "   ", "\n\t", None])
def test_empty_query_is_refused(query: Any) -> None:
    with pytest.raises(RetrievalError, match="query is empty"):
        check_query(query)
    assert check_query(" tea ") == " tea "


@pytest.mark.parametrize("value", [0, -3, MAX_K + 1, 99999999999999999999, 10**400])
def test_counts_out_of_range_are_refused_naming_the_flag(value: int) -> None:
    with pytest.raises(RetrievalError, match=r"--candidates must be from 1 to") as caught:
        check_k(value, "--candidates")
    assert len(str(caught.value)) < 200  # a 400-digit number is not echoed back
    assert check_k(1) == 1 and check_k(MAX_K) == MAX_K


@pytest.mark.parametrize("value", [2.5, "5", True])
def test_counts_must_be_integers(value: Any) -> None:
    with pytest.raises(RetrievalError, match="whole number"):
        check_k(value)


def _nested(depth: int) -> dict[str, Any]:
    where: dict[str, Any] = {"page": 1}
    for _ in range(depth):
        where = {"$and": [where, {"page": 2}]}
    return where


def test_where_nested_500_deep_is_refused_before_chroma() -> None:  # Chroma recurses: RecursionError
    with pytest.raises(RetrievalError, match=f"more than {MAX_WHERE_DEPTH} levels"):
        check_where(_nested(500))
    shallow = _nested(3)
    assert check_where(shallow) is shallow and check_where(None) is None
    with pytest.raises(RetrievalError, match="non-empty JSON object"):
        check_where([])


def test_interrupted_ingest_is_reported(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "a.md").write_text("# A\n\ntext", encoding="utf-8")
    with open_store(home) as store:
        ingest([tmp_path / "a.md"], store=store, collection="docs", embedder=HashEmbedder(), home=home, progress=False)
        assert interrupted_ingest_warning(store, "docs") is None
        manifest = Manifest.open(store, "docs", create=False)
        assert manifest is not None
        manifest.mark_dirty()  # what a killed ingest leaves behind
        warning = interrupted_ingest_warning(store, "docs")
        assert warning is not None and "did not finish" in warning and "ragloop ingest" in warning
        assert interrupted_ingest_warning(store, "never-ingested") is None
