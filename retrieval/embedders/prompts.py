"""Task prompts: what an embedding model wants before a query and before a document.

Asymmetric models are trained with a prefix per side (nomic-embed-text: `search_query: ` / `search_document: `);
without it their retrieval quality drops. Symmetric models (all-MiniLM-L6-v2) have none: for them `kind` changes
nothing, by design. `Embedder.embed(texts, kind)` applies `TaskPrompts.prefix(kind)` in every embedder of the
project that does not get its prompts from the model itself (sentence-transformers models declare theirs in
`config_sentence_transformers.json`, and `SentenceTransformerEmbedder` uses those).
"""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.types import EmbedKind


@dataclass(frozen=True)
class TaskPrompts:
    query: str = ""
    document: str = ""

    def prefix(self, kind: EmbedKind) -> str:
        if kind == "query":
            return self.query
        if kind == "document":
            return self.document
        raise ValueError(f"kind must be 'query' or 'document', not {kind!r}")

    def apply(self, texts: list[str], kind: EmbedKind) -> list[str]:
        prefix = self.prefix(kind)
        return [prefix + text for text in texts] if prefix else list(texts)


NONE = TaskPrompts()
NOMIC = TaskPrompts(query="search_query: ", document="search_document: ")

# model names (as registered, served by an OpenAI endpoint, or in a GGUF's general.name) -> prompts
KNOWN: dict[str, TaskPrompts] = {
    "nomic-embed-text-v1.5": NOMIC,
    "nomic-embed-text-v1": NOMIC,
}


def prompts_for(model: str | None) -> TaskPrompts:
    """The prompts of a known model name (the `-q8` quantized variants included); none for others."""
    if not model:
        return NONE
    name = model.rsplit("/", 1)[-1].lower()
    for known, prompts in KNOWN.items():
        if name == known or name.startswith(known + "-") or name.startswith(known + "."):
            return prompts
    return NONE
