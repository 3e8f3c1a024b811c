"""Model directories verified by a `SHA256SUMS` manifest, and the reranker the project ships.

The manifest lists every file needed to load the model (weights, config, tokenizer), one per line in
`sha256sum` format (`<hex digest>  <relative path>`), so `sha256sum -c SHA256SUMS` checks it too. Notes that
may change after training (the model card, reports, evaluation results, the training data) are not listed.
`verify_model_dir` refuses a directory whose manifest is missing or malformed, or whose listed file is
missing or has another digest, with a `RetrievalError` that says what to do.

The shipped model lives in `retrieval/data/reranker/` (committed when trained); `shipped_reranker_dir`
returns it verified, or None while the project ships none.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.errors import RetrievalError

if TYPE_CHECKING:
    from retrieval.reranker import CrossEncoderReranker

MANIFEST = "SHA256SUMS"
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "reranker"
INT8_FILE = "onnx/model_quint8_avx2.onnx"
UNLISTED_SUFFIXES = (".md",)
UNLISTED_NAMES = {MANIFEST, "training_report.json"}
UNLISTED_DIRS = {"training-data", "eval"}
RESTORE_HINT = "restore the directory (for the shipped model: `git checkout -- {dir}` or reinstall ragloop)"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_files(model_dir: Path) -> list[str]:
    """Relative paths of the files a manifest lists: everything but notes, reports and training data."""
    out = []
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        if not path.is_file() or relative.parts[0] in UNLISTED_DIRS or relative.parts[0].startswith("."):
            continue
        if path.name in UNLISTED_NAMES or path.suffix in UNLISTED_SUFFIXES:
            continue
        out.append(relative.as_posix())
    return out


def write_manifest(model_dir: Path, files: Iterable[str] | None = None) -> Path:
    """Write `SHA256SUMS` for `files` (default: `model_files(model_dir)`); returns its path."""
    model_dir = Path(model_dir)
    listed = sorted(files) if files is not None else model_files(model_dir)
    lines = [f"{file_sha256(model_dir / name)}  {name}\n" for name in listed]
    path = model_dir / MANIFEST
    path.write_text("".join(lines), encoding="utf-8")
    return path


def read_manifest(model_dir: Path) -> dict[str, str]:
    """relative path -> expected sha256, from the directory's `SHA256SUMS`."""
    path = Path(model_dir) / MANIFEST
    hint = RESTORE_HINT.format(dir=model_dir)
    if not path.is_file():
        raise RetrievalError(
            f"The model directory {model_dir} has no {MANIFEST} manifest, so its weights cannot be verified: "
            f"{hint}, or retrain it with `ragloop reranker train` (which writes the manifest)."
        )
    expected: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        name = name.strip().removeprefix("*")
        if not sep or len(digest) != 64 or not name or ".." in Path(name).parts or Path(name).is_absolute():
            raise RetrievalError(f"{path}:{number} is not a `<sha256>  <relative path>` line: {hint}.")
        expected[name] = digest.lower()
    if not expected:
        raise RetrievalError(f"{path} lists no files: {hint}.")
    return expected


def verify_model_dir(model_dir: Path) -> list[str]:
    """Check every file of the manifest; returns the verified relative paths."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise RetrievalError(f"The model directory {model_dir} does not exist.")
    hint = RESTORE_HINT.format(dir=model_dir)
    expected = read_manifest(model_dir)
    for name, digest in expected.items():
        path = model_dir / name
        if not path.is_file():
            raise RetrievalError(f"The model file {path} (listed in {MANIFEST}) is missing: {hint}.")
        actual = file_sha256(path)
        if actual != digest:
            raise RetrievalError(
                f"The model file {path} is corrupted: its sha256 is {actual[:16]}…, {MANIFEST} expects "
                f"{digest[:16]}…. Do not use it: {hint}."
            )
    return list(expected)


def shipped_reranker_dir(path: Path | None = None) -> Path | None:
    """The shipped reranker's directory (default `SHIPPED_DIR`), verified; None when the project ships none."""
    path = SHIPPED_DIR if path is None else path
    if not path.is_dir() or not any(path.iterdir()):
        return None
    verify_model_dir(path)
    return path


SHIPPED_FILES = (
    "config.json",
    "config_sentence_transformers.json",
    "modules.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    INT8_FILE,
)
SHIPPED_NOTES = ("model_card.md", "training_report.json")


def package_for_shipping(model_dir: Path, dest: Path) -> list[str]:
    """Copy what the repository ships of a trained, verified model (ONNX int8, config, tokenizer: about 25 MB)
    and its notes into `dest` (new or empty), with a new manifest; returns the files it lists."""
    model_dir, dest = Path(model_dir), Path(dest)
    listed = verify_model_dir(model_dir)
    missing = [name for name in SHIPPED_FILES if name not in listed]
    if missing:
        raise RetrievalError(
            f"{model_dir} lacks {', '.join(missing)}; train it with ONNX export on (the default, not --no-onnx)."
        )
    if dest.exists() and any(dest.iterdir()):
        raise RetrievalError(f"{dest} is not empty; pass a new or empty directory.")
    for name in (*SHIPPED_FILES, *SHIPPED_NOTES):
        if (model_dir / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(model_dir / name, dest / name)
    if (model_dir / "eval").is_dir():
        shutil.copytree(model_dir / "eval", dest / "eval")
    write_manifest(dest, SHIPPED_FILES)
    return list(SHIPPED_FILES)


def load_verified_reranker(model_dir: Path, *, int8: bool = True) -> CrossEncoderReranker:
    """A reranker over a verified directory: the ONNX int8 file when listed (and `int8`), else torch."""
    from retrieval.reranker import CrossEncoderReranker

    listed = verify_model_dir(model_dir)
    if int8 and INT8_FILE in listed:
        return CrossEncoderReranker(model_dir, backend="onnx", model_kwargs={"file_name": INT8_FILE})
    if not any(name.endswith(".safetensors") for name in listed):
        raise RetrievalError(f"{model_dir} holds neither torch weights (.safetensors) nor {INT8_FILE}.")
    return CrossEncoderReranker(model_dir)
