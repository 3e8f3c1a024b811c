"""Profiles choose the chat and judge models only where the settings name none."""

from __future__ import annotations

import pytest

from agent.profiles import DEFAULT_PROFILE, PROFILES, UnknownProfileError, resolve_models
from local_models.registry import MODELS


def test_the_default_profile_is_quality_with_the_larger_model() -> None:
    assert DEFAULT_PROFILE == "quality"
    assert resolve_models(None, None, None) == ("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b")


def test_fast_uses_the_small_model() -> None:
    assert resolve_models("fast", None, None) == ("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b")


def test_every_profile_names_registered_chat_models() -> None:
    for profile in PROFILES.values():
        assert MODELS[profile.chat].kind == "chat" and MODELS[profile.judge].kind == "chat"


def test_an_explicit_model_wins_and_judges_itself() -> None:
    # Asking for a small model must not start a second, larger server for the judge.
    assert resolve_models("quality", "smollm2-135m", None) == ("smollm2-135m", "smollm2-135m")
    assert resolve_models("fast", "/models/x.gguf", None) == ("/models/x.gguf", "/models/x.gguf")


def test_an_explicit_judge_wins_over_the_profile() -> None:
    assert resolve_models("fast", None, "qwen2.5-coder-1.5b") == ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
    assert resolve_models("quality", "smollm2-135m", "qwen2.5-coder-0.5b") == ("smollm2-135m", "qwen2.5-coder-0.5b")


def test_an_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(UnknownProfileError, match="use one of quality, fast"):
        resolve_models("turbo", None, None)
