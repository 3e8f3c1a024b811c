"""`EmbeddingEngine`: a GGUF embedding model (e.g. nomic-embed-text-v1.5) in one llama.cpp context.

The engine embeds raw texts: task prefixes such as `search_query: ` are the caller's business (the retrieval
embedder applies them by `kind`; an HTTP client sends them in the text). Texts are batched by llama.cpp
(several sequences per decode, up to `n_ctx` tokens per batch), each text is truncated to `n_ctx` tokens, and
the vectors are L2-normalised. Calls are serialised by a lock, so one engine can serve several threads.
llama_cpp is imported inside the functions that load or quantize, so the name tables here stay cheap to import.

Quantized variants: a registered name with a quantization suffix (`nomic-embed-text-v1.5-q8`) is made once
from the registered F16 file with llama.cpp's own `llama_model_quantize` and cached next to it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from local_models.errors import ModelError, UnknownModelError
from local_models.registry import MODELS, names_of_kind, resolve_model

if TYPE_CHECKING:
    import llama_cpp

log = logging.getLogger(__name__)

DEFAULT_EMBED_CTX = 2048


@dataclass(frozen=True)
class Quantized:
    """A registered model made locally from another one by quantization."""

    source: str  # the registered model it is made from
    ftype: str  # "Q8_0"
    filename: str


QUANTIZED: dict[str, Quantized] = {
    "nomic-embed-text-v1.5-q8": Quantized("nomic-embed-text-v1.5", "Q8_0", "nomic-embed-text-v1.5.Q8_0.gguf"),
}
FTYPES = ("Q8_0", "F16")  # llama_cpp.LLAMA_FTYPE_MOSTLY_<name>


class EmbeddingEngine:
    """A loaded embedding model. `embed` is thread-safe (one call at a time)."""

    def __init__(self, llm: llama_cpp.Llama, model_name: str, path: Path) -> None:
        self.llm = llm
        self.model_name = model_name
        self.path = path
        self.n_ctx = llm.n_ctx()
        self.dimension = llm.n_embd()
        self.n_ctx_train = llm._model.n_ctx_train()
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """(normalised vectors, prompt tokens used) for `texts`; each text is cut at `n_ctx` tokens."""
        if not texts:
            return [], 0
        with self._lock:
            vectors, tokens = self.llm.embed(texts, normalize=True, truncate=True, return_count=True)
        return [list(map(float, v)) for v in vectors], int(tokens)

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` as the model sees it, special tokens ([CLS]/[SEP]) included."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def close(self) -> None:
        self.llm.close()


def resolve_embedding_model(ref: str, cache_dir: Path) -> tuple[str, Path]:
    """(display name, verified GGUF path) for a registered embedding model, a quantized variant, or a path."""
    if ref in QUANTIZED:
        variant = QUANTIZED[ref]
        target = cache_dir / variant.filename
        if not target.exists():
            source = resolve_model(variant.source, cache_dir).path
            quantize(source, target, variant.ftype)
        return ref, target
    if ref in MODELS or ref.endswith(".gguf"):
        resolved = resolve_model(ref, cache_dir)
        return resolved.name, resolved.path
    raise UnknownModelError(
        f"Unknown embedding model {ref!r}: use a registered one ({', '.join(embedding_model_names())}) "
        "or a path to a .gguf embedding model."
    )


def embedding_model_names() -> list[str]:
    """Registered embedding models (registry kind "embedding") and their local quantized variants."""
    names = names_of_kind("embedding")
    return names + list(QUANTIZED)


def quantize(source: Path, target: Path, ftype: str = "Q8_0", threads: int | None = None) -> Path:
    """Write `source` quantized to `ftype` at `target` (atomically) with llama.cpp's quantize API."""
    import llama_cpp

    if ftype not in FTYPES:
        raise ModelError(f"Unknown quantization {ftype!r}; use one of {', '.join(FTYPES)}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    tmp = Path(tmp_name)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.nthread = threads or 0
    try:
        log.info("quantizing %s to %s", source.name, ftype)
        if llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params) != 0:
            raise ModelError(f"llama.cpp could not quantize {source} to {ftype}.")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def load_embedding_engine(
    ref: str, cache_dir: Path, *, n_ctx: int | None = None, n_threads: int | None = None
) -> EmbeddingEngine:
    """Resolve `ref` and load it for embeddings; `n_ctx` defaults to the model's training context (max 2048)."""
    import llama_cpp

    from local_models.cpu_features import check_llama_build, usable_cores

    name, path = resolve_embedding_model(ref, cache_dir)
    check_llama_build()
    threads = n_threads or usable_cores()
    ctx = n_ctx or DEFAULT_EMBED_CTX
    try:
        llm = llama_cpp.Llama(
            model_path=str(path),
            embedding=True,
            n_ctx=ctx,
            n_batch=ctx,
            n_ubatch=ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"llama.cpp could not load {path} as an embedding model: {exc}.") from exc
    if llm.pooling_type() == llama_cpp.LLAMA_POOLING_TYPE_NONE:
        llm.close()
        raise ModelError(f"{path} is not an embedding model (it has no pooling): use an embedding GGUF.")
    return EmbeddingEngine(llm, name, path)


def identity(ref: str) -> tuple[str, str | None]:
    """(the model a reference stands for, its local quantization or None): `nomic-embed-text-v1.5-q8` is
    nomic-embed-text-v1.5 at Q8_0, so both embed into the same collections."""
    if ref in QUANTIZED:
        return QUANTIZED[ref].source, QUANTIZED[ref].ftype
    return ref, None
