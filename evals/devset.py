"""A development question set over a real manual: the records, the split rule, and checks against a corpus.

One JSONL file (`answers.jsonl`), one question a line, in the format `ragloop bench agent --questions` reads
(`id`, `question`, `answerable`, `gold_sources`, `key_facts`) plus:

- `reference`: a one- or two-sentence answer written from the gold pages;
- `difficulty`: `easy` (the answer is stated where a user would look), `medium` (the user's words differ from
  the manual's, or the fact sits in a long page), `hard` (an option-level detail, or two facts to combine);
- `split`: `tune` or `check` (see `assign_splits`; tune on `tune` only, report both).

`key_facts` are short strings that must appear (case-insensitive, whitespace runs as one space) in a correct
answer; a list item is a set of alternatives. Each fact must appear in at least one gold page's text, which
`check_against_corpus` verifies on the rebuilt corpus. `gold_sources` are page ids (`lang_createtable.html`):
the BEIR `_id` of the corpus record and the file name of the page as ingested from HTML.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIFFICULTIES = ("easy", "medium", "hard")
SPLITS = ("tune", "check")
FIELDS = ("id", "question", "answerable", "difficulty", "split", "reference", "gold_sources", "key_facts")


class DevSetError(ValueError):
    """The question set (or the corpus it is checked against) is malformed; the message names the record."""


@dataclass(frozen=True)
class DevQuestion:
    id: str
    question: str
    answerable: bool
    difficulty: str
    split: str
    reference: str
    gold_sources: tuple[str, ...] = ()
    key_facts: tuple[tuple[str, ...], ...] = field(default=())  # each: acceptable alternatives

    def as_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answerable": self.answerable,
            "difficulty": self.difficulty,
            "split": self.split,
            "reference": self.reference,
            "gold_sources": list(self.gold_sources),
            "key_facts": [alts[0] if len(alts) == 1 else list(alts) for alts in self.key_facts],
        }


def _facts(raw: Any, where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(raw, list):
        raise DevSetError(f"{where}: key_facts must be a list of strings (or lists of alternatives).")
    facts = []
    for item in raw:
        alts = [item] if isinstance(item, str) else item
        if not isinstance(alts, list) or not alts or not all(isinstance(a, str) and a.strip() for a in alts):
            raise DevSetError(f"{where}: key fact {item!r} is not a non-empty string or list of strings.")
        facts.append(tuple(alts))
    return tuple(facts)


def parse_question(raw: Any, where: str) -> DevQuestion:
    """One record; `where` ("file:line") prefixes every error."""
    if not isinstance(raw, dict):
        raise DevSetError(f"{where}: not a JSON object.")
    missing = [name for name in FIELDS if name not in raw]
    if missing:
        raise DevSetError(f"{where}: missing field(s) {', '.join(missing)}.")
    if not isinstance(raw["answerable"], bool):
        raise DevSetError(f"{where}: answerable must be true or false.")
    if raw["difficulty"] not in DIFFICULTIES:
        raise DevSetError(f"{where}: difficulty {raw['difficulty']!r} is not one of {', '.join(DIFFICULTIES)}.")
    if raw["split"] not in SPLITS:
        raise DevSetError(f"{where}: split {raw['split']!r} is not one of {', '.join(SPLITS)}.")
    for name in ("id", "question", "reference"):
        if not isinstance(raw[name], str) or not raw[name].strip():
            raise DevSetError(f"{where}: {name} must be a non-empty string.")
    gold = raw["gold_sources"]
    if not isinstance(gold, list) or not all(isinstance(g, str) and g.strip() for g in gold):
        raise DevSetError(f"{where}: gold_sources must be a list of page ids.")
    question = DevQuestion(
        id=raw["id"],
        question=raw["question"],
        answerable=raw["answerable"],
        difficulty=raw["difficulty"],
        split=raw["split"],
        reference=raw["reference"],
        gold_sources=tuple(gold),
        key_facts=_facts(raw["key_facts"], where),
    )
    if question.answerable and not (question.gold_sources and question.key_facts):
        raise DevSetError(f"{where}: an answerable question needs gold_sources and key_facts.")
    if not question.answerable and (question.gold_sources or question.key_facts):
        raise DevSetError(f"{where}: an unanswerable question has no gold_sources or key_facts.")
    return question


def load_devset(path: Path) -> list[DevQuestion]:
    """The question set at `path`; every malformed line is an error naming it (nothing is skipped)."""
    if not path.is_file():
        raise DevSetError(f"{path} not found: the question set is evals/data/realdocs/answers.jsonl.")
    questions: list[DevQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DevSetError(f"{where}: not valid JSON ({exc.msg}).") from exc
        question = parse_question(raw, where)
        if question.id in seen:
            raise DevSetError(f"{where}: id {question.id!r} repeats an earlier line.")
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise DevSetError(f"{path} holds no questions.")
    return questions


def assign_splits(questions: Iterable[DevQuestion]) -> dict[str, str]:
    """The split rule: within each (answerable, difficulty) stratum, in id order, alternate tune, check, tune...

    Each stratum of n questions gives ceil(n/2) to `tune` and floor(n/2) to `check`, so both halves get the
    same mix of difficulties and of unanswerable questions, and adding a question never moves another one
    of a different stratum.
    """
    strata: dict[tuple[bool, str], list[str]] = {}
    for q in questions:
        strata.setdefault((q.answerable, q.difficulty), []).append(q.id)
    split: dict[str, str] = {}
    for ids in strata.values():
        for index, qid in enumerate(sorted(ids)):
            split[qid] = SPLITS[index % 2]
    return split


def balanced_order(questions: Sequence[DevQuestion]) -> list[DevQuestion]:
    """The questions interleaved across their (answerable, difficulty) strata in proportion to the strata sizes,
    so that any prefix (`ragloop bench agent --limit N`) has about the mix of the whole."""
    strata: dict[tuple[bool, str], list[DevQuestion]] = {}
    for q in sorted(questions, key=lambda q: q.id):
        strata.setdefault((q.answerable, q.difficulty), []).append(q)
    keyed = [
        ((index + 0.5) / len(members), order, q)
        for order, members in enumerate(strata.values())
        for index, q in enumerate(members)
    ]
    return [q for _, _, q in sorted(keyed, key=lambda item: (item[0], item[1]))]


def normalize(text: str) -> str:
    """What a key-fact match compares: case-folded, whitespace runs as one space (as `agent.bench.fact_found`)."""
    return " ".join(text.split()).casefold()


def check_questions(questions: Sequence[DevQuestion]) -> list[str]:
    """Problems of the set on its own (no corpus needed): split not the rule's, too few questions of a kind."""
    problems = []
    expected = assign_splits(questions)
    for q in questions:
        if q.split != expected[q.id]:
            problems.append(f"{q.id}: split {q.split!r}, but the split rule assigns {expected[q.id]!r}.")
    counts = Counter((q.split, q.answerable) for q in questions)
    for split in SPLITS:
        if not counts[(split, False)]:
            problems.append(f"the {split} half has no unanswerable question.")
    return problems


def check_against_corpus(questions: Sequence[DevQuestion], pages: Mapping[str, str]) -> list[str]:
    """Problems against the corpus (`pages`: page id → text): unknown gold pages, facts on no gold page."""
    problems = []
    normalized: dict[str, str] = {}
    for q in questions:
        for gold in q.gold_sources:
            if gold not in pages:
                problems.append(f"{q.id}: gold page {gold!r} is not in the corpus.")
            elif gold not in normalized:
                normalized[gold] = normalize(pages[gold])
        for alts in q.key_facts:
            if not any(normalize(alt) in normalized.get(gold, "") for gold in q.gold_sources for alt in alts):
                problems.append(f"{q.id}: key fact {' | '.join(alts)!r} appears on none of its gold pages.")
    return problems


def read_corpus(path: Path) -> dict[str, str]:
    """A BEIR `corpus.jsonl` as page id → title and text."""
    if not path.is_file():
        raise DevSetError(f"{path} not found: rebuild it with `python -m evals.realdocs build --out DIR`.")
    pages: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                    pages[str(record["_id"])] = f"{record.get('title', '')}\n\n{record['text']}"
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise DevSetError(f"{path}:{number}: not a BEIR corpus record ({exc}).") from exc
    return pages
