"""The settings tree: sections, precedence (flags > RAGLOOP_* > ragloop.toml > defaults), origins, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.settings import SECTIONS, SettingsError, leaf_fields, load_settings, load_settings_with_origins


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in list(os.environ):
        if var.startswith("RAGLOOP_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("RAGLOOP_HOME", str(tmp_path))
    return tmp_path


def test_precedence_is_flags_then_environment_then_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "ragloop.toml").write_text(
        '[models]\nmodel = "from-file"\nn_ctx = 1024\n[retrieval]\ncollection = "docs"\nembed_backend = "onnx"\n'
    )
    monkeypatch.setenv("RAGLOOP_N_CTX", "2048")
    monkeypatch.setenv("RAGLOOP_EMBED_BACKEND", "onnx-int8")
    loaded = load_settings_with_origins({"models.model": "from-flag", "retrieval.collection": None})
    s = loaded.settings
    assert s.home == home
    assert (s.models.model, s.models.n_ctx, s.retrieval.collection) == ("from-flag", 2048, "docs")
    assert s.retrieval.embed_backend == "onnx-int8"  # the environment beats the file
    assert loaded.origins["models.model"] == "flag"
    assert loaded.origins["models.n_ctx"] == "env RAGLOOP_N_CTX"
    assert loaded.origins["retrieval.collection"] == f"file {home / 'ragloop.toml'}"
    assert loaded.origins["agent.context_tokens"] == "default"


def test_defaults_work_offline(home: Path) -> None:
    settings = load_settings()
    assert settings.models.profile == "quality"
    assert (settings.models.model, settings.models.judge_model) == ("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b")
    assert settings.models.model_url is None and settings.retrieval.chroma_url is None
    assert settings.models_dir == home / "models"
    assert settings.agent.context_tokens == 1000


def test_agent_defaults_have_one_home() -> None:
    """The [agent] section is AgentConfig itself: no second copy of its defaults."""
    from agent.config import AgentConfig

    assert SECTIONS["agent"][0] is AgentConfig


def test_environment_names_are_unique() -> None:
    from agent.settings import env_name

    names = [env_name(section, name) for section, name, _ in leaf_fields()]
    assert len(names) == len(set(names))


def test_section_env_prefixes(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLOOP_CONTEXT_TOKENS", "900")
    monkeypatch.setenv("RAGLOOP_CHROMA_URL", "")  # empty: not set (the embedded store)
    settings = load_settings()
    assert settings.agent.context_tokens == 900 and settings.retrieval.chroma_url is None


def test_invalid_values_name_the_setting_and_its_source(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLOOP_N_CTX", "lots")
    with pytest.raises(SettingsError, match=r"models\.n_ctx.*env RAGLOOP_N_CTX"):
        load_settings()
    monkeypatch.delenv("RAGLOOP_N_CTX")
    (home / "ragloop.toml").write_text("[agent]\nk = 0\n")
    with pytest.raises(SettingsError, match=r"agent\.k.*ragloop\.toml"):
        load_settings()
    with pytest.raises(SettingsError, match=r"--context-tokens"):
        load_settings({"agent.context_tokens": -5})


def test_unknown_keys_in_the_file_are_rejected(home: Path) -> None:
    (home / "ragloop.toml").write_text('[models]\nmodle = "typo"\n')
    with pytest.raises(SettingsError, match="modle"):
        load_settings()
    (home / "ragloop.toml").write_text('[modles]\nmodel = "typo"\n')
    with pytest.raises(SettingsError, match=r"unknown setting `modles`.*\[models\]"):
        load_settings()


def test_flat_keys_of_earlier_versions_say_where_they_belong(home: Path) -> None:
    (home / "ragloop.toml").write_text('collection = "docs"\n')
    with pytest.raises(SettingsError, match=r"\[retrieval\]"):
        load_settings()


def test_broken_toml_is_a_clear_error(home: Path) -> None:
    (home / "ragloop.toml").write_text("[models]\nmodel = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings()


def _ragloop(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAGLOOP_")}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        env={**clean, "RAGLOOP_HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_config_show_prints_values_and_origins(home: Path) -> None:
    (home / "ragloop.toml").write_text('[retrieval]\ncollection = "docs"\n[models]\napi_key = "secret"\n')
    result = _ragloop(home, "config", "show", "--json", env={"RAGLOOP_EMBED_BACKEND": "onnx"})
    assert result.returncode == 0, result.stderr
    rows = {row["key"]: row for row in json.loads(result.stdout)["settings"]}
    assert rows["retrieval.collection"]["value"] == "docs"
    assert rows["retrieval.collection"]["origin"].startswith("file ")
    assert rows["retrieval.embed_backend"] == {
        "key": "retrieval.embed_backend",
        "value": "onnx",
        "origin": "env RAGLOOP_EMBED_BACKEND",
        "env": "RAGLOOP_EMBED_BACKEND",
    }
    assert rows["models.api_key"]["value"] == "***"  # secrets are masked unless --reveal
    text = _ragloop(home, "config", "show")
    assert text.returncode == 0 and "retrieval.collection" in text.stdout and "secret" not in text.stdout


def test_a_bad_settings_file_is_a_clean_cli_error(home: Path) -> None:
    (home / "ragloop.toml").write_text("[retrieval]\nk = 3\n")
    result = _ragloop(home, "config", "show")
    assert result.returncode == 2
    assert "retrieval.k" in result.stderr and "ragloop.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_hostile_settings_files_are_clean_errors(home: Path) -> None:
    path = home / "ragloop.toml"
    path.write_text("[agent]\nk = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SettingsError, match="too deeply"):
        load_settings()
    path.unlink()
    os.mkfifo(path)  # a FIFO would block the read forever
    with pytest.raises(SettingsError, match="not a regular file"):
        load_settings()
    path.unlink()
    path.write_text("[agent]\ncontext_tokens = 100000000000000000000000\n")
    with pytest.raises(SettingsError, match="context_tokens"):
        load_settings()


def test_profiles_choose_the_models_unless_named(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = load_settings_with_origins({"models.profile": "fast"})
    assert (fast.settings.models.model, fast.settings.models.judge_model) == ("qwen2.5-coder-0.5b",) * 2
    assert fast.origins["models.model"] == "profile fast"
    named = load_settings({"models.model": "smollm2-135m"})
    assert (named.models.model, named.models.judge_model) == ("smollm2-135m", None)  # it judges itself
    monkeypatch.setenv("RAGLOOP_JUDGE_MODEL", "qwen2.5-coder-1.5b")
    mixed = load_settings({"models.profile": "fast"})
    assert (mixed.models.model, mixed.models.judge_model) == ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
    with pytest.raises(SettingsError, match="profile"):
        load_settings({"models.profile": "turbo"})


def test_flags_are_unique_across_sections() -> None:
    """Any command may combine sections: two fields with one flag name would clash."""
    from agent.cli.options import settings_flags

    names = [name for name, _, _ in settings_flags(*SECTIONS)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
