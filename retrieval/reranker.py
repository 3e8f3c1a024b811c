"""The cross-encoder seam: `CrossEncoderReranker` implements `retrieval.types.Reranker`.

Reranking is off by default until the project ships its own trained cross-encoder (no registry package
carries one; see docs/MODELS.md). Any sentence-transformers `CrossEncoder` name or local path enables it.
The model loads on first use.

`build_reranker(model, backend, cache_dir)` picks the runtime: `torch` (fp32), `onnx` (fp32) or `onnx-int8`
(dynamically quantized, about twice as fast on CPU). An ONNX variant is exported once into `cache_dir` (or
used in place when the model directory already carries it) and reused by later runs.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from retrieval.embedder import load_model, resolve_model
from retrieval.errors import RetrievalError

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

RERANK_OFF_NOTE = (
    "reranking is off: the project's own cross-encoder is not shipped yet; "
    "pass --rerank-model NAME_OR_PATH (or set rerank_model) to rerank the fused candidates"
)


RerankBackend = Literal["torch", "onnx", "onnx-int8"]
RERANK_BACKENDS: tuple[str, ...] = get_args(RerankBackend)


def check_backend(backend: str) -> RerankBackend:
    if backend not in RERANK_BACKENDS:
        raise RetrievalError(f"Unknown reranker backend {backend!r}; use one of: {', '.join(RERANK_BACKENDS)}.")
    return backend  # type: ignore[return-value]


def build_reranker(model: str | Path, backend: str = "torch", *, cache_dir: Path | None = None) -> CrossEncoderReranker:
    """A reranker for `model` on `backend`; ONNX variants are exported into `cache_dir` once, then reused."""
    from retrieval.onnx_export import QUANT_CONFIG, export_onnx

    chosen = check_backend(backend)
    if chosen == "torch":
        return CrossEncoderReranker(model)
    int8 = chosen == "onnx-int8"
    file_name = f"onnx/model_quint8_{QUANT_CONFIG}.onnx" if int8 else "onnx/model.onnx"
    local = Path(model).expanduser()
    if (local / file_name).is_file():  # a model directory that ships its ONNX files (e.g. the project's own)
        return CrossEncoderReranker(local, backend="onnx", model_kwargs={"file_name": file_name}, label=chosen)
    if cache_dir is None:
        raise RetrievalError(
            f"The reranker {model!s} has no {file_name}; an ONNX export needs a cache directory to write to."
        )
    name, _ = resolve_model(model)
    slug = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(name).name)[:60]
    digest = _fingerprint(name)
    out_dir, kwargs = export_onnx(model, Path(cache_dir) / f"{slug}-{digest}", kind="reranker", int8=int8)
    return CrossEncoderReranker(out_dir, backend="onnx", model_kwargs=kwargs, label=chosen, display_name=name)


def _fingerprint(name: str) -> str:
    """Cache key of an export: the model's name, and for a local directory its files' sizes and times, so a
    retrained model in the same place is exported again instead of served stale."""
    h = hashlib.sha256(name.encode())
    path = Path(name)
    if path.is_dir():
        for entry in sorted(path.iterdir()):
            if entry.is_file():
                stat = entry.stat()
                h.update(f"{entry.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


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
