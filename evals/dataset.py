"""Evaluation datasets: one question a line (JSONL), shipped as package data or given by path.

    {"id": "a01", "question": "...", "reference": "RRF usually uses k = 60.", "answerable": true,
     "gold_sources": ["hybrid-search.md"], "key_facts": ["60", ["SIGIR", "SIGIR 2009"]]}

- `reference`: a short reference answer (exact match, token F1, ROUGE-L, the judge's correctness). Optional:
  without it those metrics are unmeasured for the item, never 0.
- `key_facts`: each must appear in the answer (case-insensitive); a list item is a set of acceptable alternatives.
- `gold_sources`: file names (or `file.jsonl#record-id`) of the documents that hold the answer.
- `answerable: false`: off the corpus; the right behaviour is to abstain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evals.errors import EvalError

DATA_DIR = Path(__file__).resolve().parent / "data"
DEMO_DIR = DATA_DIR / "demo"
DEMO_QUESTIONS = DEMO_DIR / "questions.jsonl"
DEMO_SUITE = DEMO_DIR / "suite.yaml"


@dataclass
class Item:
    id: str
    question: str
    answerable: bool = True
    reference: str | None = None
    gold_sources: list[str] = field(default_factory=list)
    key_facts: list[list[str]] = field(default_factory=list)  # each: acceptable alternatives

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def item_from_dict(raw: dict[str, Any]) -> Item:
    facts = [[f] if isinstance(f, str) else [str(a) for a in f] for f in raw.get("key_facts", []) or []]
    reference = raw.get("reference")
    return Item(
        id=str(raw["id"]),
        question=str(raw["question"]),
        answerable=bool(raw.get("answerable", True)),
        reference=str(reference) if reference else None,
        gold_sources=[str(s) for s in raw.get("gold_sources", []) or []],
        key_facts=facts,
    )


def load_dataset(path: Path) -> list[Item]:
    """The items at `path`; a malformed line is an error naming the line (no silent skipping)."""
    if not path.is_file():
        raise EvalError(f"Dataset {path} not found. A dataset is JSONL with id, question, reference, answerable.")
    items: list[Item] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            item = item_from_dict(raw)
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise EvalError(f"{path}:{number}: not a dataset record ({exc}); see evals/dataset.py.") from exc
        if item.id in seen:
            raise EvalError(f"{path}:{number}: duplicate id {item.id!r}; ids key the resumable cache.")
        seen.add(item.id)
        if item.answerable and not (item.gold_sources or item.key_facts or item.reference):
            raise EvalError(f"{path}:{number}: an answerable item needs a reference, key_facts or gold_sources.")
        items.append(item)
    if not items:
        raise EvalError(f"{path} holds no items.")
    return items


_CITATION_MARKS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def strip_citations(text: str) -> str:
    """The text without `[n]` / `[1, 2]` marks, whitespace runs as one space."""
    return " ".join(_CITATION_MARKS.sub("", text).split())


def fact_found(answer: str, alternatives: Sequence[str]) -> bool:
    """Case-insensitive substring match, ignoring citation marks ("0 [1].75" is "0.75") and counting whitespace
    runs (line breaks included) as one space."""
    text = strip_citations(answer).casefold()
    return any(" ".join(alt.split()).casefold() in text for alt in alternatives)


def source_name(source: str) -> str:
    """A chunk's source as the datasets name it: the file name (with `#record` for JSONL records)."""
    return Path(source).name


def from_gold_source(source: str, gold_sources: Sequence[str]) -> bool:
    """True when a chunk's source (a path, maybe `file.jsonl#record`) is one of the gold documents."""
    name = source_name(source)
    return any(name == gold or name.split("#", 1)[0] == gold for gold in gold_sources)


def gold_match(source: str, gold_sources: Sequence[str]) -> str | None:
    """The gold source a chunk's source counts as (for ranking metrics), None when it is not gold."""
    name = source_name(source)
    for gold in gold_sources:
        if name == gold or name.split("#", 1)[0] == gold:
            return gold
    return None
