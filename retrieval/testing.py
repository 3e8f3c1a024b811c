"""Test doubles that implement the real retrieval interfaces (and are tested like the rest).

- `CountingEmbedder` wraps any `Embedder` and counts the calls and texts that reach it, so a test can
  prove that work was (or was not) done — e.g. that re-ingesting unchanged files embeds nothing.
- `HashEmbedder` is a deterministic, model-free `Embedder` (hashed bag of words, normalized) for tests
  of plumbing where the model's quality does not matter; its token count is whitespace words + 2.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field

from retrieval.types import Embedder, EmbedKind

_WORD = re.compile(r"\w+")


@dataclass
class CountingEmbedder:
    inner: Embedder
    calls: int = 0
    texts: int = 0
    kinds: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def embed(self, texts: list[str], kind: EmbedKind = "document") -> list[list[float]]:
        self.calls += 1
        self.texts += len(texts)
        self.kinds.append(kind)
        return self.inner.embed(texts, kind)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def reset(self) -> None:
        self.calls = 0
        self.texts = 0
        self.kinds.clear()


class HashEmbedder:
    """Bag-of-words vectors from hashed lowercase words; texts sharing words get similar vectors."""

    def __init__(self, dimension: int = 64, max_tokens: int = 128, name: str = "hash-embedder") -> None:
        self.name = name
        self.dimension = dimension
        self.max_tokens = max_tokens

    def embed(self, texts: list[str], kind: EmbedKind = "document") -> list[list[float]]:
        out = []
        for text in texts:
            vector = [0.0] * self.dimension
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                vector[int.from_bytes(digest, "little") % self.dimension] += 1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            out.append([v / norm for v in vector] if any(vector) else [1.0] + [0.0] * (self.dimension - 1))
        return out

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2
