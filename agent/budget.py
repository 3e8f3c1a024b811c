"""Per-question budget and accounting: tokens and seconds spent, the backend's measured speed, skipped steps.

`SpeedMeter` learns a backend's prompt-processing and generation speed from every call (it lives as long as the
`Agent`, one per role: "chat" and "judge"). `Budget` lives for one question: it records each call's usage and
timings, and before an optional step (LLM grading, reflection, an extra retry) it estimates what the step and
the mandatory steps still ahead would cost; when that would exceed the limit in seconds or tokens the step is
skipped and the skip is reported with its reason.

Token sizes come from a `TokenCounter`: the chat client itself (`ChatClient` counts with the model server's
tokenizer, batched and cached) or `EstimatedTokens` (about 4 characters per token) where no tokenizer is known.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agent.chat_client import ChatResult


class TokenCounter(Protocol):
    """Sizes text in the answering model's tokens. `ChatClient` and `EstimatedTokens` implement it."""

    def count_tokens(self, text: str) -> int: ...

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        """One count per text, in order; implementations batch the work (one request, not one per text)."""
        ...


# Generation costs about this many times more per token than prompt processing on CPU llama.cpp
# (237 vs 38 tok/s for the 0.5B model in MODELS.md); used only until a streamed call measures it.
DEFAULT_GENERATION_COST_RATIO = 6.0
_SMOOTHING = 0.5  # weight of the newest observation


@dataclass
class SpeedMeter:
    prompt_tps: float | None = None  # prompt tokens per second
    generation_tps: float | None = None  # completion tokens per second
    samples: int = 0

    def observe(self, result: ChatResult) -> None:
        usage, timings = result.usage, result.timings
        p, c = usage.prompt_tokens, usage.completion_tokens
        if timings.prompt_seconds is not None and timings.generation_seconds is not None:
            if p > 0 and timings.prompt_seconds > 0:
                self.prompt_tps = _blend(self.prompt_tps, p / timings.prompt_seconds)
            if c > 1 and timings.generation_seconds > 0:
                self.generation_tps = _blend(self.generation_tps, (c - 1) / timings.generation_seconds)
        elif timings.total_seconds > 0 and p + c > 0:
            # Only the total is known: split it with the current (or default) cost ratio.
            ratio = self.ratio()
            per_prompt_token = timings.total_seconds / (p + ratio * c)
            self.prompt_tps = _blend(self.prompt_tps, 1 / per_prompt_token)
            if self.generation_tps is None or c > 0:
                self.generation_tps = _blend(self.generation_tps, 1 / (ratio * per_prompt_token))
        else:
            return
        self.samples += 1

    def ratio(self) -> float:
        if self.prompt_tps and self.generation_tps:
            return self.prompt_tps / self.generation_tps
        return DEFAULT_GENERATION_COST_RATIO

    def estimate(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Seconds for a call of this size, or None before the first measurement."""
        if not self.prompt_tps or not self.generation_tps:
            return None
        return prompt_tokens / self.prompt_tps + completion_tokens / self.generation_tps

    def split(self, result: ChatResult) -> tuple[float, float]:
        """(prompt, generation) seconds of a call: measured when known, else the total split by the speeds."""
        t = result.timings
        if t.prompt_seconds is not None and t.generation_seconds is not None:
            return t.prompt_seconds, t.generation_seconds
        p, c = result.usage.prompt_tokens, result.usage.completion_tokens
        weight_p, weight_c = p, self.ratio() * c
        if weight_p + weight_c == 0:
            return t.total_seconds, 0.0
        prompt = t.total_seconds * weight_p / (weight_p + weight_c)
        return prompt, t.total_seconds - prompt


@dataclass
class Call:
    """The size of a model call, for estimates: which backend, prompt tokens, completion tokens."""

    role: str
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Budget:
    seconds: float | None = None
    tokens: int | None = None
    speeds: dict[str, SpeedMeter] = field(default_factory=dict)
    clock: Callable[[], float] = time.perf_counter
    started: float = 0.0
    used: dict[str, int] = field(default_factory=dict)  # prompt/completion tokens per role
    spent: dict[str, float] = field(default_factory=dict)  # seconds per category
    skipped: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.started = self.clock()

    # -- accounting ------------------------------------------------------------------------------

    def record(self, role: str, result: ChatResult) -> None:
        meter = self.speeds.setdefault(role, SpeedMeter())
        meter.observe(result)
        self.used[f"{role}_prompt"] = self.used.get(f"{role}_prompt", 0) + result.usage.prompt_tokens
        self.used[f"{role}_completion"] = self.used.get(f"{role}_completion", 0) + result.usage.completion_tokens
        if role == "judge":
            self.add_time("judge", result.timings.total_seconds)
        else:
            prompt, generation = meter.split(result)
            self.add_time("prompt", prompt)
            self.add_time("generation", generation)

    def add_time(self, category: str, seconds: float) -> None:
        self.spent[category] = self.spent.get(category, 0.0) + seconds

    def elapsed(self) -> float:
        return self.clock() - self.started

    def tokens_used(self) -> int:
        return sum(self.used.values())

    def tokens_report(self) -> dict[str, int]:
        prompt = sum(v for k, v in self.used.items() if k.endswith("_prompt"))
        completion = sum(v for k, v in self.used.items() if k.endswith("_completion"))
        return {"prompt": prompt, "completion": completion, "total": prompt + completion, **self.used}

    def timings_report(self) -> dict[str, float]:
        report = {k: round(v, 4) for k, v in self.spent.items()}
        report["total"] = round(self.elapsed(), 4)
        return report

    # -- decisions -------------------------------------------------------------------------------

    def allows(self, step: Call, reserve: Sequence[Call] = ()) -> str | None:
        """None when `step` plus the mandatory calls in `reserve` fit the budget; else the reason they don't."""
        calls = [step, *reserve]
        if self.tokens is not None:
            need = sum(c.prompt_tokens + c.completion_tokens for c in calls)
            left = self.tokens - self.tokens_used()
            if need > left:
                return f"needs about {need} tokens, {max(left, 0)} left of {self.tokens}"
        if self.seconds is not None:
            estimates = [self._estimate(c) for c in calls]
            if all(e is not None for e in estimates):
                need_s = sum(e for e in estimates if e is not None)
                left_s = self.seconds - self.elapsed()
                if need_s > left_s:
                    return f"needs about {need_s:.1f} s, {max(left_s, 0):.1f} s left of {self.seconds:g} s"
        return None

    def _estimate(self, call: Call) -> float | None:
        """Seconds for `call` at its backend's speed; an unmeasured backend counts as fast as the fastest measured."""
        meter = self.speeds.get(call.role)
        estimate = meter.estimate(call.prompt_tokens, call.completion_tokens) if meter else None
        if estimate is None:
            known = [m.estimate(call.prompt_tokens, call.completion_tokens) for m in self.speeds.values()]
            estimate = min((e for e in known if e is not None), default=None)
        return estimate

    def check(self, name: str, step: Call, reserve: Sequence[Call] = ()) -> bool:
        """True when the optional step `name` may run; otherwise records it as skipped and returns False."""
        reason = self.allows(step, reserve)
        if reason is None:
            return True
        self.skip(name, reason)
        return False

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append({"step": name, "reason": reason})


def _blend(old: float | None, new: float) -> float:
    return new if old is None else (1 - _SMOOTHING) * old + _SMOOTHING * new
