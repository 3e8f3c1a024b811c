"""HybridSearcher over a real embedded store and the real MiniLM: each mode, filters, rerank, MMR, BM25 sync."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from retrieval.bm25 import BM25Index, ensure_index, index_dir, rebuild_index
from retrieval.embedder import SentenceTransformerEmbedder, bundled_minilm_path
from retrieval.errors import RetrievalError
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.reranker import RERANK_OFF_NOTE, CrossEncoderReranker
from retrieval.search import HybridSearcher, build_searcher, parse_where
from retrieval.store import open_store
from retrieval.types import Chunk


@pytest.fixture
def searcher_for(seeded_home: Path, embedder: SentenceTransformerEmbedder) -> Iterator[Callable[..., HybridSearcher]]:
    stores = []

    def make(**options: object) -> HybridSearcher:
        store = open_store(seeded_home)
        stores.append(store)
        return HybridSearcher(store.get_collection("docs"), embedder, home=seeded_home, **options)  # type: ignore[arg-type]

    yield make
    for store in stores:
        store.close()


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_raft_leader_election_chunk(searcher_for: Callable[..., HybridSearcher], mode: str) -> None:
    result = searcher_for(mode=mode).run("Raft leader election timeouts", k=3)
    top = result.hits[0]
    assert top.chunk.id == "c05" and top.rank == 1
    assert top.chunk.source == "papers/raft.pdf" and top.chunk.page == 2 and top.chunk.title == "Raft consensus"
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
    assert result.notes == [RERANK_OFF_NOTE]
    expected_stages = {"dense": {"dense"}, "bm25": {"bm25"}, "hybrid": {"rrf"}}[mode]
    assert expected_stages <= set(top.scores)
    assert top.score == top.scores[{"dense": "dense", "bm25": "bm25", "hybrid": "rrf"}[mode]]
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_every_hybrid_candidate_carries_dense_and_bm25_scores(
    searcher_for: Callable[..., HybridSearcher], embedder: SentenceTransformerEmbedder
) -> None:
    """Retrieval owns its scores: a chunk found by one retriever only is scored by the other, from the same
    query embedding, so the agent's grader never has to re-embed or guess."""
    import math

    searcher = searcher_for(mode="hybrid", candidates=3)  # small pools: the two retrievers disagree
    query = "Raft leader election timeouts"
    result = searcher.run(query, k=6)
    dense_ids = {h.chunk.id for h in searcher.run(query, k=3, mode="dense").hits}
    bm25_ids = {h.chunk.id for h in searcher.run(query, k=3, mode="bm25").hits}
    assert dense_ids != bm25_ids, "the test needs a chunk found by one retriever only"
    vector = embedder.embed([query], kind="query")[0]
    stored = searcher.collection.embeddings([h.chunk.id for h in result.hits])
    for hit in result.hits:
        assert {"dense", "bm25", "rrf"} <= set(hit.scores), hit.scores
        if hit.chunk.id not in dense_ids:  # filled in from the stored vector: the cosine of the query's
            a, b = vector, stored[hit.chunk.id]
            cos = sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
                sum(x * x for x in a) * sum(y * y for y in b)
            )
            assert hit.scores["dense"] == pytest.approx(cos, abs=1e-5)
        if hit.chunk.id not in bm25_ids:
            assert hit.scores["bm25"] >= 0.0


def test_hybrid_scores_are_rrf_of_the_two_rankings(searcher_for: Callable[..., HybridSearcher]) -> None:
    searcher = searcher_for(mode="hybrid", candidates=8)
    query = "keyword ranking fused with dense embeddings"
    dense = [h.chunk.id for h in searcher.run(query, k=8, mode="dense").hits]
    bm25 = [h.chunk.id for h in searcher.run(query, k=8, mode="bm25").hits]
    hybrid = searcher.run(query, k=8)
    expected = reciprocal_rank_fusion([dense, bm25], k=60)
    assert [(h.chunk.id, pytest.approx(h.score)) for h in hybrid.hits] == [
        (cid, pytest.approx(score)) for cid, score in expected[:8]
    ]
    both = [h for h in hybrid.hits if {"dense", "bm25"} <= set(h.scores)]
    assert both, "at least one chunk is found by both retrievers"


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_where_filter_applies_to_every_mode(searcher_for: Callable[..., HybridSearcher], mode: str) -> None:
    searcher = searcher_for(mode=mode, where={"source": "guide/search.md"})
    hits = searcher.search("Raft leader election filters hybrid", k=5)
    assert hits and {h.chunk.source for h in hits} == {"guide/search.md"}
    paged = searcher.run("Raft leader", k=5, where={"page": {"$gte": 2}}).hits
    assert [h.chunk.id for h in paged] == ["c05"]


def test_rerank_scores_every_candidate_and_orders_by_them(
    searcher_for: Callable[..., HybridSearcher],
) -> None:
    # The bundled bi-encoder loaded as a CrossEncoder (untrained head): real code path, arbitrary scores.
    reranker = CrossEncoderReranker(bundled_minilm_path())
    searcher = searcher_for(reranker=reranker, candidates=6)
    result = searcher.run("sourdough bread", k=3)
    assert result.notes == [] and "rerank" in result.timings_ms
    assert len(result.hits) == 3
    assert all({"rrf", "rerank"} <= set(h.scores) for h in result.hits)
    assert [h.score for h in result.hits] == sorted((h.scores["rerank"] for h in result.hits), reverse=True)
    off = searcher.run("sourdough bread", k=3, rerank=False)
    assert off.notes == ["reranking turned off (--no-rerank)"] and all("rerank" not in h.scores for h in off.hits)


def test_rerank_weight_fuses_the_reranker_order_with_the_hybrid_order(
    searcher_for: Callable[..., HybridSearcher],
) -> None:
    reranker = CrossEncoderReranker(bundled_minilm_path())
    hybrid = [h.chunk.id for h in searcher_for(candidates=6).run("sourdough bread", k=6, rerank=False).hits]
    alone = [h.chunk.id for h in searcher_for(reranker=reranker, candidates=6).run("sourdough bread", k=6).hits]
    assert sorted(alone) == sorted(hybrid)
    for weight in (0.0, 0.3, 0.7):
        result = searcher_for(reranker=reranker, candidates=6, rerank_weight=weight).run("sourdough bread", k=6)
        expected = reciprocal_rank_fusion([alone, hybrid], k=60, weights=[weight, 1 - weight])
        assert [(h.chunk.id, h.score) for h in result.hits] == expected
        assert all(h.scores["rerank_fused"] == h.score and "rerank" in h.scores for h in result.hits)
    assert [h.chunk.id for h in searcher_for(reranker=reranker, candidates=6, rerank_weight=0.0).search(
        "sourdough bread", k=6)] == hybrid  # fmt: skip
    with pytest.raises(RetrievalError, match="rerank_weight must be between 0 and 1"):
        searcher_for(reranker=reranker, rerank_weight=1.5)


def test_weighted_fusion_counts_each_ranking_by_its_weight() -> None:
    assert reciprocal_rank_fusion([["a", "b"], ["b", "a"]], k=0, weights=[3.0, 1.0]) == [("a", 3.5), ("b", 2.5)]
    assert reciprocal_rank_fusion([["a"], ["b"]], k=0) == [("a", 1.0), ("b", 1.0)]  # tie: first seen first
    with pytest.raises(ValueError, match="one weight per ranking"):
        reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0])


def test_mmr_pushes_the_near_duplicate_down(searcher_for: Callable[..., HybridSearcher]) -> None:
    query = "sourdough bread starter flour water salt"
    plain = searcher_for(mode="dense").search(query, k=3)
    assert {h.chunk.id for h in plain[:2]} == {"c06", "c07"}
    deduped = searcher_for(mode="dense", mmr=True, mmr_lambda=0.5).search(query, k=3)
    assert deduped[0].chunk.id in {"c06", "c07"} and deduped[1].chunk.id not in {"c06", "c07"}
    assert "mmr" in deduped[0].scores and deduped[0].score == deduped[0].scores["mmr"]


def test_bm25_index_follows_the_store(
    seeded_home: Path, embedder: SentenceTransformerEmbedder, chunks: list[Chunk]
) -> None:
    with open_store(seeded_home) as store:
        coll = store.get_collection("docs")
        first = BM25Index.load(index_dir(seeded_home, "docs"))
        assert first is not None and len(first) == 8
        extra = Chunk(id="zz", text="Quokkas live on Rottnest Island.", doc_id="q", source="q.txt")
        coll.upsert([extra], embedder.embed([extra.text]))
        # stale (ids changed): ensure_index rebuilds from the store and persists it
        index = ensure_index(seeded_home, coll)
        assert len(index) == 9 and index.search("quokkas", 3)[0][0] == "zz"
        assert BM25Index.load(index_dir(seeded_home, "docs")).fingerprint == index.fingerprint  # type: ignore[union-attr]
        coll.delete(ids=["zz"])
        hits = HybridSearcher(coll, embedder, home=seeded_home, mode="bm25").search("quokkas Rottnest", k=3)
        assert all(h.chunk.id != "zz" for h in hits)
        assert len(rebuild_index(seeded_home, coll)) == 8


def test_build_searcher_uses_the_collection_model_and_checks_it(seeded_home: Path) -> None:
    with open_store(seeded_home) as store:
        searcher = build_searcher(store, seeded_home, "docs", mode="dense")
        assert searcher.embedder.name == "all-MiniLM-L6-v2" and searcher.reranker is None
        assert searcher.search("docker volume", k=1)[0].chunk.id == "c01"
        withrr = build_searcher(store, seeded_home, "docs", rerank_model=str(bundled_minilm_path()))
        assert isinstance(withrr.reranker, CrossEncoderReranker)
        other = SentenceTransformerEmbedder(bundled_minilm_path())
        with pytest.raises(RetrievalError, match="was embedded with 'all-MiniLM-L6-v2'"):
            HybridSearcher(store.get_collection("docs"), other, home=seeded_home)


def test_parse_where() -> None:
    assert parse_where('{"page": {"$gte": 2}}') == {"page": {"$gte": 2}}
    assert parse_where(None) is None
    for bad in ("{page: 2}", "[1]", "{}", '"x"'):
        with pytest.raises(RetrievalError, match="--where"):
            parse_where(bad)


def test_unknown_hub_model_fails_offline_with_a_clear_error() -> None:
    # The build machines cannot reach the hub: the real hub path must fail fast and say what to do.
    with pytest.raises(RetrievalError, match="pass the path of a local sentence-transformers model"):
        _ = SentenceTransformerEmbedder("ragloop-tests/no-such-model").dimension
    with pytest.raises(RetrievalError, match="reranker model 'ragloop-tests/no-such-reranker'"):
        CrossEncoderReranker("ragloop-tests/no-such-reranker").score("q", ["p"])


def test_embedder_contract(embedder: SentenceTransformerEmbedder) -> None:
    assert embedder.dimension == 384 and embedder.max_tokens == 256
    vectors = embedder.embed(["a query", "another"], kind="query")
    assert len(vectors) == 2 and all(abs(sum(x * x for x in v) - 1.0) < 1e-4 for v in vectors)
    assert embedder.embed([]) == []
    assert embedder.count_tokens("hello world") == 4  # [CLS] hello world [SEP]
    assert embedder.count_tokens("word " * 400) > embedder.max_tokens
