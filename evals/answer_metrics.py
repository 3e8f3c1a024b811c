"""Answer metrics of one item: exact match, token F1, ROUGE-L, key facts, citations, abstention.

Every function returns a number in [0, 1] or an `Unmeasured` with the reason (no reference, nothing cited,
an answerable item for an unanswerable-only metric...). Unmeasured is its own state: it is counted beside the
metric as an unmeasured rate, never turned into 0, a pass or NaN.

Normalization for the string metrics (SQuAD's convention): citation marks dropped, lower case, punctuation
and the articles a/an/the removed, whitespace collapsed.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from evals.dataset import Item, fact_found, from_gold_source, strip_citations


@dataclass(frozen=True)
class Unmeasured:
    reason: str


Score = float | Unmeasured

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    text = strip_citations(text).lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def tokens(text: str) -> list[str]:
    return normalize(text).split()


def exact_match(answer: str, reference: str | None) -> Score:
    if not reference:
        return Unmeasured("no reference answer")
    return 1.0 if normalize(answer) == normalize(reference) else 0.0


def token_f1(answer: str, reference: str | None) -> Score:
    """Harmonic mean of token precision and recall (bag of tokens, SQuAD-style)."""
    if not reference:
        return Unmeasured("no reference answer")
    pred, gold = tokens(answer), tokens(reference)
    if not pred or not gold:
        return 1.0 if pred == gold else 0.0
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(answer: str, reference: str | None) -> Score:
    """ROUGE-L F1: longest common token subsequence, F-measure with beta = 1."""
    if not reference:
        return Unmeasured("no reference answer")
    pred, gold = tokens(answer), tokens(reference)
    if not pred or not gold:
        return 1.0 if pred == gold else 0.0
    lcs = lcs_length(pred, gold)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(gold)
    return 2 * precision * recall / (precision + recall)


def key_fact_accuracy(answer: str, item: Item) -> Score:
    """1 when every key fact appears in the answer, else 0."""
    if not item.answerable:
        return Unmeasured("unanswerable item")
    if not item.key_facts:
        return Unmeasured("no key facts")
    return 1.0 if all(fact_found(answer, alternatives) for alternatives in item.key_facts) else 0.0


def key_fact_recall(answer: str, item: Item) -> Score:
    """The share of key facts found in the answer."""
    if not item.answerable:
        return Unmeasured("unanswerable item")
    if not item.key_facts:
        return Unmeasured("no key facts")
    return sum(fact_found(answer, alternatives) for alternatives in item.key_facts) / len(item.key_facts)


def citation_precision(cited_sources: Sequence[str], item: Item) -> Score:
    """Cited chunks that come from a gold source / cited chunks."""
    if not item.answerable:
        return Unmeasured("unanswerable item")
    if not item.gold_sources:
        return Unmeasured("no gold sources")
    if not cited_sources:
        return Unmeasured("the answer cites nothing")
    return sum(from_gold_source(s, item.gold_sources) for s in cited_sources) / len(cited_sources)


def citation_recall(cited_sources: Sequence[str], item: Item) -> Score:
    """Gold sources cited at least once / gold sources."""
    if not item.answerable:
        return Unmeasured("unanswerable item")
    if not item.gold_sources:
        return Unmeasured("no gold sources")
    hit = {g for g in item.gold_sources if any(from_gold_source(s, [g]) for s in cited_sources)}
    return len(hit) / len(item.gold_sources)


def abstention_accuracy(abstained: bool, item: Item) -> Score:
    """On an unanswerable item: 1 when the agent abstained."""
    if item.answerable:
        return Unmeasured("answerable item")
    return 1.0 if abstained else 0.0


def wrong_abstention(abstained: bool, item: Item) -> Score:
    """On an answerable item: 1 when the agent abstained (lower is better)."""
    if not item.answerable:
        return Unmeasured("unanswerable item")
    return 1.0 if abstained else 0.0


def answer_metrics(answer: str, abstained: bool, cited_sources: Sequence[str], item: Item) -> dict[str, Score]:
    """Every answer metric of one item. Text metrics are unmeasured on unanswerable items (abstention scores them)."""
    text: dict[str, Score]
    if item.answerable:
        text = {
            "exact_match": exact_match(answer, item.reference),
            "token_f1": token_f1(answer, item.reference),
            "rouge_l": rouge_l(answer, item.reference),
        }
    else:
        text = {name: Unmeasured("unanswerable item") for name in ("exact_match", "token_f1", "rouge_l")}
    return {
        **text,
        "key_fact_accuracy": key_fact_accuracy(answer, item),
        "key_fact_recall": key_fact_recall(answer, item),
        "citation_precision": citation_precision(cited_sources, item),
        "citation_recall": citation_recall(cited_sources, item),
        "abstention_accuracy": abstention_accuracy(abstained, item),
        "wrong_abstention": wrong_abstention(abstained, item),
    }


LOWER_IS_BETTER = frozenset({"wrong_abstention"})

# Reasons that mean "this metric does not apply to this kind of item" (recall on an off-corpus question,
# abstention accuracy on an answerable one): left out of the record, not counted as unmeasured.
# Judge criteria other than correctness do not apply to a non-answer (abstained, failed, empty).
NOT_APPLICABLE = frozenset(
    {
        "unanswerable item",
        "answerable item",
        "the agent abstained",
        "the agent failed on this item",
        "empty answer",
        "the agent gave no usable answer",
    }
)
