"""The cross-encoder seam: `CrossEncoderReranker` implements `retrieval.types.Reranker`.

Reranking is off by default. No registry package carries cross-encoder weights, so the project trains and
ships its own (`ragloop-reranker`, ONNX int8 in `retrieval/data/reranker`); it is level with hybrid search on
held-out data, not clearly better, so it is opt-in. Any sentence-transformers `CrossEncoder` name or local
path works too. The model loads on first use.

`build_reranker(model, backend, cache_dir)` picks the runtime: `torch` (fp32), `onnx` (fp32) or `onnx-int8`
(dynamically quantized, about twice as fast on CPU; see `retrieval.onnx_export.onnx_variant`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from retrieval.embedder import load_model, resolve_model
from retrieval.errors import RetrievalError

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

RERANK_OFF_NOTE = (
    "reranking is off (the default): pass --rerank-model ragloop-reranker for the project's own cross-encoder "
    "(level with hybrid search on held-out data, ~0.5 s a query), or any CrossEncoder name or path"
)


SHIPPED_RERANKER = "ragloop-reranker"  # the project's own model, in retrieval/data/reranker (ONNX int8)
# Its share of the weighted RRF with the hybrid order, chosen on the python and postgres test sets (not on the
# held-out git set): alone it ranks below hybrid; fused at 0.3 it is level with hybrid or a little above.
SHIPPED_RERANK_WEIGHT = 0.3


def default_rerank_weight(model: str | Path | None) -> float:
    """The rerank weight a model gets when none is set: the shipped model's, else 1 (its own order alone)."""
    return SHIPPED_RERANK_WEIGHT if str(model) == SHIPPED_RERANKER else 1.0


def build_reranker(model: str | Path, backend: str = "torch", *, cache_dir: Path | None = None) -> CrossEncoderReranker:
    """A reranker for `model` on `backend` (torch | onnx | onnx-int8); ONNX variants come from
    `onnx_variant` (in place, or exported into `cache_dir` once). `ragloop-reranker` is the shipped model,
    verified against its SHA256SUMS before use."""
    from retrieval.onnx_export import check_backend, onnx_variant

    if str(model) == SHIPPED_RERANKER:
        return shipped_reranker(check_backend(backend))
    if check_backend(backend) == "torch":
        return CrossEncoderReranker(model)
    source, kwargs = onnx_variant(model, "reranker", backend, cache_dir)
    return CrossEncoderReranker(
        source, backend="onnx", model_kwargs=kwargs, label=backend, display_name=resolve_model(model)[0]
    )


def shipped_reranker(backend: str) -> CrossEncoderReranker:
    from retrieval.training.shipped import load_verified_reranker, shipped_reranker_dir

    if backend != "onnx-int8":
        raise RetrievalError(
            f"{SHIPPED_RERANKER} ships as ONNX int8 only; use --rerank-backend onnx-int8 (the default), or train "
            "a model with `ragloop reranker train` for torch weights."
        )
    shipped = shipped_reranker_dir()
    if shipped is None:
        raise RetrievalError(f"This installation ships no {SHIPPED_RERANKER}; train one with `ragloop reranker train`.")
    reranker = load_verified_reranker(shipped)
    reranker.name = f"{SHIPPED_RERANKER}@onnx-int8"
    return reranker


class CrossEncoderReranker:
    """Scores (query, passage) pairs with a sentence-transformers `CrossEncoder`; higher is more relevant."""

    def __init__(
        self,
        model: str | Path,
        *,
        backend: Literal["torch", "onnx"] = "torch",
        batch_size: int = 32,
        max_length: int | None = 256,
        device: str = "cpu",
        model_kwargs: dict[str, Any] | None = None,
        label: str | None = None,
        display_name: str | None = None,
    ) -> None:
        self.name, self._source = resolve_model(model)
        if display_name:
            self.name = display_name
        if backend != "torch":
            self.name = f"{self.name}@{label or backend}"
        self.backend = backend
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self._model_kwargs = model_kwargs
        self._model: CrossEncoder | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> CrossEncoder:
        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                self._model = load_model(
                    CrossEncoder,
                    "reranker",
                    self.name,
                    self._source,
                    device=self.device,
                    backend=self.backend,
                    max_length=self.max_length,
                    model_kwargs=self._model_kwargs,
                )
            return self._model

    def score(self, query: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        pairs: list[Any] = [(query, p) for p in passages]
        scores = self.model.predict(
            pairs,
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        import numpy as np

        values = np.asarray(scores, dtype=np.float64)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise RetrievalError(
                f"The reranker model {self.name!r} returns {values.shape[-1]} scores per pair; a reranker needs "
                "a CrossEncoder with one output (num_labels=1)."
            )
        return [float(v) for v in values]
