"""How strongly the kept chunks support a question or an answer: cheap, model-free signals.

Two decisions use them:
- a questioned abstention: when the model says the documents lack the answer but a kept chunk is strong
  evidence for the question (`strong_sources`), reflection asks once more, pointing at that source;
- the judge skip (`judge_skip_reason`): the judge is not called when the evidence is strong. The rule, all of:
  1. every source the answer cites is strong evidence for the question: its retrieval score is confidently
     relevant (the grader's cheap signal) and it holds most of the question's content words
     (`QUESTION_COVERAGE`);
  2. every sentence of the answer that makes a claim is lexically supported by the sources it cites: at least
     `SENTENCE_SUPPORT` of its content words appear in them (a copied or paraphrased fact passes; an invented
     number, command or name does not);
  3. the answer already passed the output checks and cites something (checked before this runs).
  Or (rule 2, `_well_supported`): at least `JUDGE_SKIP_SUPPORT` of the answer's own words (`answer_support`)
  are in the kept sources and it cites a source that is confidently relevant by its retrieval score.
  Otherwise the judge runs as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.state import Hit

QUESTION_COVERAGE = 0.5  # share of the question's content words a strong source contains
SENTENCE_SUPPORT = 0.7  # share of a cited sentence's content words found in its cited sources
# rule 2 of the judge skip: the share of the answer's own words found in the kept sources (answer_support). On
# the real-docs tune half the 1.5B judge passed every answer it saw at or above this (and wrong ones too: it
# does not catch a wrong claim made of the sources' words), at 10-16 s a verdict
JUDGE_SKIP_SUPPORT = 0.8
_WORD = re.compile(r"[a-z0-9][a-z0-9_'-]{2,}")
_CITATIONS = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+(?=\s|$)|$)")
_STOPWORD_TEXT = (
    "the and for are but not you all any can had her was one our out has have been from this that with they will "
    "what when where which who why how its also into than then them there these those such only other some more "
    "most very about over does each use used uses using would should could your yours doing done make made get "
    "want need tell give show way does did"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def content_words(text: str) -> set[str]:
    return {w.strip("'-") for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def question_coverage(question: str, hit: Hit) -> float:
    """The share of the question's content words found in the chunk (its text, title and heading path)."""
    words = content_words(question)
    if not words:
        return 0.0
    vocabulary = content_words(" ".join([hit["text"], hit["title"], *hit["heading_path"]]))
    return len(words & vocabulary) / len(words)


def is_strong(question: str, hit: Hit, thresholds: dict[str, tuple[float, float]]) -> bool:
    # imported here: agent.nodes imports this module (reflect, route), so a top-level import would be circular
    from agent.nodes.grade import cheap_signal

    signal, _ = cheap_signal(hit, thresholds)
    return signal == "relevant" and question_coverage(question, hit) >= QUESTION_COVERAGE


def strong_sources(question: str, kept: Sequence[Hit], thresholds: dict[str, tuple[float, float]]) -> list[int]:
    """The numbers [n] (1-based, the answer prompt's order) of the kept chunks that are strong evidence."""
    return [n for n, hit in enumerate(kept, start=1) if is_strong(question, hit, thresholds)]


def judge_skip_reason(
    question: str, answer: str, kept: Sequence[Hit], thresholds: dict[str, tuple[float, float]], support: float
) -> str:
    """Why the judge can be skipped for this answer (the module's rules), or "" when it must run. `support` is
    the answer's `answer_support` (the caller has it already)."""
    return _strong_evidence(question, answer, kept, thresholds) or _well_supported(answer, kept, thresholds, support)


def _well_supported(
    answer: str, kept: Sequence[Hit], thresholds: dict[str, tuple[float, float]], support: float
) -> str:
    """Rule 2: at least JUDGE_SKIP_SUPPORT of the answer's own words are in the sources and it cites a source
    that is confidently relevant by its retrieval score."""
    from agent.nodes.grade import cheap_signal

    if support < JUDGE_SKIP_SUPPORT:
        return ""
    cited = sorted({int(p) for group in _CITATIONS.findall(answer) for p in group.split(",")})
    relevant = [n for n in cited if 1 <= n <= len(kept) and cheap_signal(kept[n - 1], thresholds)[0] == "relevant"]
    if not relevant:
        return ""
    listed = ", ".join(f"[{n}]" for n in relevant)
    return f"well supported: {support:.0%} of the answer's own words are in the sources; cites {listed}, relevant"


def _strong_evidence(
    question: str, answer: str, kept: Sequence[Hit], thresholds: dict[str, tuple[float, float]]
) -> str:
    strong = set(strong_sources(question, kept, thresholds))
    cited: set[int] = set()
    for sentence in _SENTENCE.findall(answer):
        numbers = {int(p) for group in _CITATIONS.findall(sentence) for p in group.split(",")}
        words = content_words(_CITATIONS.sub("", sentence))
        if not numbers:
            if len(words) >= 3:
                return ""  # an uncited claim: the judge decides
            continue
        if not numbers <= strong:
            return ""
        vocabulary: set[str] = set()
        for n in numbers:
            hit = kept[n - 1]
            vocabulary |= content_words(" ".join([hit["text"], hit["title"], *hit["heading_path"]]))
        if words and len(words & vocabulary) / len(words) < SENTENCE_SUPPORT:
            return ""
        cited |= numbers
    if not cited:
        return ""
    listed = ", ".join(f"[{n}]" for n in sorted(cited))
    return f"strong evidence: cites {listed}, each confidently relevant; every sentence supported"


def answer_support(question: str, answer: str, kept: Sequence[Hit]) -> tuple[float, list[str]]:
    """How much of what the answer adds to the question comes from the kept sources: the share of its content
    words that are not the question's own and that appear in some kept chunk (text, title or heading path),
    compared on their first SUPPORT_PREFIX characters ("encrypts" matches "encryption"); with the words not
    found. An answer written from the model's own knowledge (set-up steps for a product the manual never
    names) scores low; an extractive or paraphrased answer scores high. (1.0, []) when the answer adds no
    content word."""
    asked = {stem(w) for w in content_words(question)}
    # numbers count: an invented limit ("up to 100 placeholders") is the typical unsupported claim
    added = {w for w in content_words(_CITATIONS.sub(" ", answer)) if stem(w) not in asked}
    if not added:
        return 1.0, []
    vocabulary: set[str] = set()
    for hit in kept:
        vocabulary |= {stem(w) for w in content_words(" ".join([hit["text"], hit["title"], *hit["heading_path"]]))}
    missing = sorted(w for w in added if stem(w) not in vocabulary)
    return 1 - len(missing) / len(added), missing


SUPPORT_PREFIX = 5


def stem(word: str) -> str:
    return word[:SUPPORT_PREFIX]


# a name in a question: a word with a capital letter ("Django", "SQLAlchemy", "PostgreSQL") that is not the
# question's first word; shorter ones ("S3", "EF", "URL") are too often abbreviations the documents spell out
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
NAME_MIN_CHARS = 4


def question_names(question: str) -> list[str]:
    """The words of `question` that look like names of things (products, tools, formats): capitalised or mixed
    case, at least NAME_MIN_CHARS long, not the first word. Used with the collection's vocabulary: a question
    naming something the documents never mention asks about something else (agent.nodes.grade)."""
    words = _NAME.findall(question)
    names = [w for w in words[1:] if len(w) >= NAME_MIN_CHARS and any(c.isupper() for c in w)]
    return list(dict.fromkeys(names))
