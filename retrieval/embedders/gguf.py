"""`GGUFEmbedder`: an `Embedder` over a GGUF embedding model run by llama.cpp (`local_models.embedding_engine`).

References: a registered embedding model (`nomic-embed-text-v1.5`, assembled into `models_dir` from its
packages and verified), its local Q8_0 variant (`nomic-embed-text-v1.5-q8`, quantized once on first use), or
a path to a `.gguf` file. The task prefixes come from the model's name (registered name, or the GGUF's
`general.name`): see `retrieval.embedders.prompts`; pass `prompts=` for a model the table does not know.

Identity: `name` is the model (`nomic-embed-text-v1.5` for both F16 and Q8_0, like torch and ONNX for MiniLM),
so a collection ingested with one can be searched with the other; `label` adds the quantization for reports.
`max_tokens` (default 512) is the chunk budget the ingest pipeline packs to; the model itself reads up to
`n_ctx` (2048) tokens, so a longer query is still embedded whole.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.embedders.prompts import TaskPrompts, prompts_for
from retrieval.errors import RetrievalError
from retrieval.types import EmbedKind

if TYPE_CHECKING:
    from local_models.embedding_engine import EmbeddingEngine

DEFAULT_MAX_TOKENS = 512
DEFAULT_BATCH = 16


class GGUFEmbedder:
    """Normalised embeddings from a llama.cpp embedding model, loaded on first use."""

    def __init__(
        self,
        model: str | Path,
        models_dir: Path,
        *,
        threads: int | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        batch_size: int = DEFAULT_BATCH,
        n_ctx: int | None = None,
        prompts: TaskPrompts | None = None,
    ) -> None:
        from local_models.embedding_engine import identity

        self.ref = str(model)
        base, quantization = identity(self.ref)
        path = Path(base).expanduser()
        self.name = str(path.resolve()) if base.endswith(".gguf") and path.exists() else base
        from local_models.registry import MODELS

        self.runtime = (quantization or (MODELS[base].quantization if base in MODELS else "gguf")).lower()
        self.models_dir = models_dir
        self.threads = threads
        self.batch_size = max(1, batch_size)
        self.n_ctx = n_ctx
        self._max_tokens = max_tokens
        self._prompts = prompts
        self._engine: EmbeddingEngine | None = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"{self.name}@{self.runtime}"

    @property
    def engine(self) -> EmbeddingEngine:
        with self._lock:
            if self._engine is None:
                from local_models.embedding_engine import load_embedding_engine
                from local_models.errors import ModelError

                try:
                    self._engine = load_embedding_engine(
                        self.ref, self.models_dir, n_ctx=self.n_ctx, n_threads=self.threads
                    )
                except ModelError as exc:
                    raise RetrievalError(f"Cannot load the embedding model {self.ref!r}: {exc}") from exc
            return self._engine

    @property
    def prompts(self) -> TaskPrompts:
        if self._prompts is None:
            # a path: the file's own name for the model tells which prompts it was trained with
            general = self.engine.llm.metadata.get("general.name") if self.name.endswith(".gguf") else None
            self._prompts = prompts_for(general or self.name)
        return self._prompts

    @property
    def dimension(self) -> int:
        return int(self.engine.dimension)

    @property
    def max_tokens(self) -> int:
        return min(self._max_tokens, self.engine.n_ctx)

    def embed(self, texts: list[str], kind: EmbedKind = "document") -> list[list[float]]:
        """Vectors for `texts`, each prefixed for `kind` (`search_query: ` / `search_document: ` for nomic)."""
        inputs = self.prompts.apply(texts, kind)
        out: list[list[float]] = []
        for start in range(0, len(inputs), self.batch_size):
            vectors, _ = self.engine.embed(inputs[start : start + self.batch_size])
            out.extend(vectors)
        return out

    def embed_array(self, texts: list[str], kind: EmbedKind = "document") -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self.embed(texts, kind), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` as a document (its prefix and the [CLS]/[SEP] specials included)."""
        return self.engine.count_tokens(self.prompts.document + text)

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
