"""Post-hoc citation attribution keeps the answer's text intact, numbers included."""

from __future__ import annotations

from typing import Any

from agent.nodes.generate import attribute_citations


def hit(text: str, title: str) -> Any:
    return {"text": text, "title": title}


def test_decimals_are_not_split_by_attributed_citations() -> None:
    kept = [hit("BM25 defaults: the saturation parameter k1 is 1.2 and the length normalization b is 0.75.", "BM25")]
    answer = "BM25 uses saturation parameter k1 = 1.2 and length normalization b = 0.75. That is all."
    marked, added = attribute_citations(answer, kept)
    assert added == {1}
    assert "k1 = 1.2 and length normalization b = 0.75 [1]." in marked
    assert marked.replace(" [1]", "") == answer  # only the marker was added


def test_a_sentence_broken_across_lines_is_kept_whole() -> None:
    # the text before a line break that ends no sentence was dropped: 253 characters became 86
    kept = [
        hit(
            "RRF uses only the ranks. The fused score sums 1 / (k + rank) over the lists, where rank is 1-based.", "RRF"
        )
    ]
    answer = "RRF uses only the ranks. The fused score sums 1 / (k + rank) over the lists,\nwhere rank is 1-based."
    marked, added = attribute_citations(answer, kept)
    assert added == {1}
    assert marked.replace(" [1]", "") == answer
