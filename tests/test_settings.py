from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import SettingsError, load_settings


def test_precedence_is_flags_then_environment_then_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ragloop.toml").write_text('model = "from-file"\nn_ctx = 1024\ncollection = "docs"\n')
    monkeypatch.setenv("RAGLOOP_HOME", str(tmp_path))
    monkeypatch.setenv("RAGLOOP_N_CTX", "2048")
    settings = load_settings(model="from-flag", collection=None)
    assert settings.home == tmp_path
    assert settings.model == "from-flag"
    assert settings.n_ctx == 2048
    assert settings.collection == "docs"


def test_defaults_work_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLOOP_HOME", str(tmp_path))
    settings = load_settings()
    assert settings.model == "qwen2.5-coder-0.5b"
    assert settings.model_url is None and settings.chroma_url is None
    assert settings.models_dir == tmp_path / "models"


def test_invalid_values_name_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLOOP_HOME", str(tmp_path))
    monkeypatch.setenv("RAGLOOP_N_CTX", "lots")
    with pytest.raises(SettingsError, match="n_ctx"):
        load_settings()


def test_unknown_keys_in_the_file_are_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ragloop.toml").write_text('modle = "typo"\n')
    monkeypatch.setenv("RAGLOOP_HOME", str(tmp_path))
    with pytest.raises(SettingsError, match="modle"):
        load_settings()


def test_broken_toml_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ragloop.toml").write_text("model = \n")
    monkeypatch.setenv("RAGLOOP_HOME", str(tmp_path))
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings()
