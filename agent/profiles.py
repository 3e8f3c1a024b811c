"""Model profiles: which chat and judge models answer when the settings name none.

`quality` (the default) answers and judges with Qwen2.5-Coder-1.5B; `fast` with the 0.5B. The choice comes
from measurements on the agent question set (README, "Choosing the models"): the 1.5B finds the key fact far
more often and its verdicts agree with the key-fact check more often, at about twice the seconds per question.

An explicit `model` always wins; an explicit `judge_model` too. Given a `model` but no `judge_model`, the judge is
that same model (one server, the behaviour before profiles), never the profile's: asking for a small model must
not silently start a second, larger one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Profile = Literal["quality", "fast"]
DEFAULT_PROFILE: Profile = "quality"


@dataclass(frozen=True)
class ProfileModels:
    chat: str
    judge: str
    summary: str


PROFILES: dict[str, ProfileModels] = {
    "quality": ProfileModels(
        "qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b", "1.5B answers and judges: more correct answers, slower"
    ),
    "fast": ProfileModels(
        "qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b", "0.5B answers and judges: about twice as fast, less accurate"
    ),
}


class UnknownProfileError(ValueError):
    """The profile is neither of PROFILES' names."""


def resolve_models(profile: str | None, model: str | None, judge_model: str | None) -> tuple[str, str]:
    """(chat model, judge model) for the settings: explicit names first, else the profile's models."""
    name = profile or DEFAULT_PROFILE
    if name not in PROFILES:
        raise UnknownProfileError(
            f"Unknown profile {name!r}: use one of {', '.join(PROFILES)} (setting models.profile, --profile, "
            "or RAGLOOP_PROFILE)."
        )
    chosen = PROFILES[name]
    if model:
        return model, judge_model or model
    return chosen.chat, judge_model or chosen.judge
