"""A deterministic `QuestionWriter` for tests and dry runs (implements the real protocol, no model needed).

`KeywordQuestionWriter` asks about the passage's longest distinct words ("Where is X, Y and Z described?"),
which BM25 finds again, so its questions pass the round-trip filter on any corpus; `script` overrides the
answer for given passage ids (a string, or None for "no question"), and `calls` counts the passages seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from retrieval.training.corpus import Passage

_WORD = re.compile(r"[A-Za-z][A-Za-z_]{3,}")


@dataclass
class KeywordQuestionWriter:
    keywords: int = 3
    script: dict[str, str | None] = field(default_factory=dict)
    calls: int = 0

    def write(self, passage: Passage) -> str | None:
        self.calls += 1
        if passage.id in self.script:
            return self.script[passage.id]
        found: list[str] = []
        for word in _WORD.findall(passage.text):
            if word.lower() not in (w.lower() for w in found):
                found.append(word)
        if not found:
            return None
        chosen = sorted(found, key=lambda w: (-len(w), found.index(w)))[: self.keywords]
        chosen.sort(key=found.index)
        listed = chosen[0] if len(chosen) == 1 else ", ".join(chosen[:-1]) + " and " + chosen[-1]
        return f"Where is {listed} described?"
