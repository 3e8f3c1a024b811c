"""ONNX variants of the sentence-transformers models (bi-encoder and cross-encoder), built offline.

sentence-transformers exports a model to ONNX at load time when its directory has no `onnx/model.onnx`
(via optimum; no network for a local directory). `export_onnx` does that once, saves the result into
`out_dir`, optionally adds a dynamically quantized int8 copy (`export_dynamic_quantized_onnx_model`),
and returns what to pass to `SentenceTransformerEmbedder` / `CrossEncoderReranker`:
`(out_dir, {"file_name": "onnx/model.onnx" or "onnx/model_quint8_avx2.onnx"})` with `backend="onnx"`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from retrieval.embedder import load_error, resolve_model
from retrieval.errors import RetrievalError

Kind = Literal["embedder", "reranker"]
QUANT_CONFIG = "avx2"  # int8 dynamic quantization that runs on any x86-64 with AVX2


def torch_source(out_dir: Path) -> Path:
    """For a reranker: the torch weights the ONNX files were exported from (compare against these)."""
    return Path(out_dir) / "torch-source"


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """The export's own chatter ("No 'model.onnx' found... Exporting", deprecations) is expected here."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _drop_export_tempdir(model: Any) -> None:
    """optimum exports into a TemporaryDirectory it leaves to the garbage collector (a ResourceWarning);
    the export is saved by now, so remove it here."""
    inner = getattr(model, "model", None)  # CrossEncoder
    if inner is None and hasattr(model, "__getitem__"):
        inner = getattr(model[0], "auto_model", None)  # SentenceTransformer
    tempdir = getattr(inner, "_model_save_dir_tempdirectory_instance", None)
    if tempdir is not None:
        tempdir.cleanup()


def export_onnx(
    model: str | Path | None, out_dir: Path, *, kind: Kind = "embedder", int8: bool = False
) -> tuple[Path, dict[str, Any]]:
    """Export `model` (default: the bundled MiniLM) to ONNX under `out_dir`; int8 adds a quantized copy."""
    from sentence_transformers import (
        CrossEncoder,
        SentenceTransformer,
        export_dynamic_quantized_onnx_model,
    )

    name, source = resolve_model(model)
    out_dir = Path(out_dir)
    fp32 = out_dir / "onnx" / "model.onnx"
    quant_name = f"onnx/model_quint8_{QUANT_CONFIG}.onnx"
    factory: Any = SentenceTransformer if kind == "embedder" else CrossEncoder
    try:
        with warnings.catch_warnings(), _quiet_loggers("sentence_transformers", "transformers", "optimum"):
            warnings.simplefilter("ignore")  # tracer warnings of the torch -> ONNX export
            if kind == "reranker" and not (torch_source(out_dir) / "config.json").is_file():
                # Save the torch CrossEncoder first: its config then records num_labels=1 (the ONNX export
                # reads only the directory, and would rebuild a two-label head from a bi-encoder config).
                CrossEncoder(source, device="cpu").save(str(torch_source(out_dir)))
            if kind == "reranker":
                source = str(torch_source(out_dir))
            if not fp32.is_file():
                exported = factory(source, backend="onnx", device="cpu")
                exported.save(str(out_dir))
                _drop_export_tempdir(exported)
            if int8 and not (out_dir / quant_name).is_file():
                loaded = factory(str(out_dir), backend="onnx", device="cpu")
                export_dynamic_quantized_onnx_model(loaded, QUANT_CONFIG, str(out_dir))
    except Exception as exc:
        raise load_error(f"{kind} (ONNX export)", name, exc) from exc
    return out_dir, {"file_name": quant_name if int8 else "onnx/model.onnx"}


OnnxBackend = Literal["torch", "onnx", "onnx-int8"]
ONNX_BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")


def check_backend(backend: str) -> OnnxBackend:
    if backend not in ONNX_BACKENDS:
        raise RetrievalError(f"Unknown model backend {backend!r}; use one of: {', '.join(ONNX_BACKENDS)}.")
    return backend  # type: ignore[return-value]


def onnx_variant(
    model: str | Path | None, kind: Kind, backend: str, cache_dir: Path | None
) -> tuple[Path, dict[str, Any]]:
    """Where the `backend` ("onnx" or "onnx-int8") variant of `model` lives and the `model_kwargs` that load it:
    in place when the model directory ships it, else exported once into `cache_dir` and reused."""
    int8 = check_backend(backend) == "onnx-int8"
    file_name = f"onnx/model_quint8_{QUANT_CONFIG}.onnx" if int8 else "onnx/model.onnx"
    name, source = resolve_model(model)
    if (Path(source) / file_name).is_file():
        return Path(source), {"file_name": file_name}
    if cache_dir is None:
        raise RetrievalError(
            f"The model {name} has no {file_name}; an ONNX export needs a cache directory to write to."
        )
    slug = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(name).name)[:60]
    return export_onnx(model, Path(cache_dir) / f"{kind}-{slug}-{_fingerprint(name)}", kind=kind, int8=int8)


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
