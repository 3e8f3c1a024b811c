"""The conformance suite of the memory store interface: every backend (embedded Chroma, the Chroma server)
must pass all of it."""

from __future__ import annotations

import pytest

from memory.errors import MemoryStoreError
from memory.store import ChromaMemoryStore, MemoryRecord

ALICE, BOB = "facts:alice", "facts:bob"


def test_add_get_list_round_trip(memory_store: ChromaMemoryStore) -> None:
    first = memory_store.add(ALICE, "  I work on   PostgreSQL 15 ", data={"source": "chat"})
    second = memory_store.add(ALICE, "I prefer answers in bullet points")
    assert first.text == "I work on PostgreSQL 15" and first.id != second.id
    got = memory_store.get(ALICE, first.id)
    assert got is not None and got.text == first.text and got.data == {"source": "chat"}
    assert [h.action for h in got.history] == ["ADD"] and got.history[0].when == got.created_at
    assert {r.id for r in memory_store.list(ALICE)} == {first.id, second.id}
    assert memory_store.list(BOB) == []


def test_search_ranks_by_similarity_within_the_namespace_only(memory_store: ChromaMemoryStore) -> None:
    memory_store.add(ALICE, "I work on PostgreSQL 15")
    memory_store.add(ALICE, "My dog is called Rex")
    memory_store.add(BOB, "I work on MySQL 8 databases")
    hits = memory_store.search(ALICE, "Which database do I work on?", k=5)
    assert hits[0].text == "I work on PostgreSQL 15"
    assert all(h.namespace == ALICE for h in hits) and "MySQL" not in " ".join(h.text for h in hits)
    assert hits == sorted(hits, key=lambda h: -h.score) and 0 < hits[0].score <= 1
    assert len(memory_store.search(ALICE, "database", k=1)) == 1
    strict = memory_store.search(ALICE, "Which database do I work on?", k=5, threshold=hits[0].score)
    assert [h.text for h in strict] == ["I work on PostgreSQL 15"]
    assert memory_store.search("facts:nobody", "database") == []
    assert memory_store.search(ALICE, "   ") == []


def test_update_keeps_history_with_when_and_why(memory_store: ChromaMemoryStore) -> None:
    record = memory_store.add(ALICE, "I work on PostgreSQL 15", why="said in conversation")
    updated = memory_store.update(ALICE, record.id, "I work on PostgreSQL 16", action="SUPERSEDE", why="upgraded")
    assert updated.id == record.id and updated.text == "I work on PostgreSQL 16"
    history = memory_store.history(ALICE, record.id)
    assert [(h.action, h.text, h.previous, h.why) for h in history] == [
        ("ADD", "I work on PostgreSQL 15", None, "said in conversation"),
        ("SUPERSEDE", "I work on PostgreSQL 16", "I work on PostgreSQL 15", "upgraded"),
    ]
    assert history[1].when >= history[0].when
    [hit] = memory_store.search(ALICE, "PostgreSQL version", k=1)
    assert hit.text == "I work on PostgreSQL 16"  # the embedding follows the new value


def test_delete_erases_the_record_and_its_history(memory_store: ChromaMemoryStore) -> None:
    record = memory_store.add(ALICE, "My phone number is 555 0100")
    memory_store.update(ALICE, record.id, "My phone number is 555 0199")
    keep = memory_store.add(ALICE, "I like tea")
    removed = memory_store.delete(ALICE, record.id)
    assert removed is not None and removed.text == "My phone number is 555 0199"
    assert memory_store.get(ALICE, record.id) is None
    assert memory_store.history(ALICE, record.id) == []
    assert all("555" not in h.text for h in memory_store.search(ALICE, "phone number 555", k=5))
    assert [r.id for r in memory_store.list(ALICE)] == [keep.id]
    assert memory_store.delete(ALICE, record.id) is None  # deleting twice is a no-op


def test_another_namespace_cannot_touch_a_record_even_by_id(memory_store: ChromaMemoryStore) -> None:
    record = memory_store.add(ALICE, "I work on PostgreSQL 15")
    assert memory_store.get(BOB, record.id) is None
    assert memory_store.delete(BOB, record.id) is None
    with pytest.raises(MemoryStoreError, match="No memory"):
        memory_store.update(BOB, record.id, "hijacked")
    assert memory_store.history(BOB, record.id) == []
    assert memory_store.get(ALICE, record.id) is not None and memory_store.list(BOB) == []


def test_put_stores_a_whole_record_idempotently(memory_store: ChromaMemoryStore) -> None:
    record = memory_store.add(ALICE, "I live in Lyon")
    memory_store.update(ALICE, record.id, "I live in Paris", action="SUPERSEDE", why="moved")
    saved = memory_store.get(ALICE, record.id)
    assert saved is not None
    memory_store.delete(ALICE, record.id)
    copy = MemoryRecord.from_dict(saved.to_dict())
    memory_store.put(copy)
    memory_store.put(copy)
    [again] = memory_store.list(ALICE)
    assert again.id == record.id and [h.text for h in again.history] == ["I live in Lyon", "I live in Paris"]


@pytest.mark.parametrize("namespace", ["", "alice", "facts:", "facts:a b", "facts:" + "x" * 65, "Facts:alice"])
def test_bad_namespaces_are_clear_errors(memory_store: ChromaMemoryStore, namespace: str) -> None:
    with pytest.raises(MemoryStoreError, match="Invalid memory namespace"):
        memory_store.add(namespace, "text")
    with pytest.raises(MemoryStoreError, match="Invalid memory namespace"):
        memory_store.search(namespace, "text")


def test_empty_text_is_refused(memory_store: ChromaMemoryStore) -> None:
    with pytest.raises(MemoryStoreError, match="needs some text"):
        memory_store.add(ALICE, "   ")
    assert memory_store.list(ALICE) == []
