"""`gemma3-270m` is a base model without a chat template: chat is refused, text completion works."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.settings import Settings
from local_models.engine import LlamaEngine, load_engine
from local_models.types import FinishEvent, InvalidRequestError, SamplingParams

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gemma() -> Iterator[LlamaEngine]:
    engine = load_engine("gemma3-270m", Settings().models_dir, n_ctx=512, n_threads=2)
    yield engine
    engine.close()


def test_chat_is_refused_with_a_pointer_to_completions(gemma: LlamaEngine) -> None:
    assert not gemma.supports_chat
    with pytest.raises(InvalidRequestError, match="/v1/completions"):
        gemma.prepare_chat([{"role": "user", "content": "Hello"}], SamplingParams())


def test_text_completion(gemma: LlamaEngine) -> None:
    job = gemma.prepare_completion("The capital of France is", SamplingParams(temperature=0.0, max_tokens=12))
    assert job.prompt_tokens[0] == gemma.llm.token_bos()  # gemma wants its BOS token
    *tokens, finish = gemma.run(job)
    assert isinstance(finish, FinishEvent)
    assert finish.finish_reason == "length" and finish.usage.completion_tokens == 12
    assert "Paris" in finish.text or "France" in finish.text
    assert "".join(t.text for t in tokens) == finish.text  # type: ignore[union-attr]


def test_completion_stop_string(gemma: LlamaEngine) -> None:
    job = gemma.prepare_completion(
        "The capital of France is", SamplingParams(temperature=0.0, max_tokens=30, stop=["."])
    )
    *_, finish = gemma.run(job)
    assert isinstance(finish, FinishEvent)
    assert finish.finish_reason == "stop" and "." not in finish.text and finish.text


def test_empty_prompt_and_long_prompt(gemma: LlamaEngine) -> None:
    with pytest.raises(InvalidRequestError):
        gemma.prepare_completion(123, SamplingParams())  # type: ignore[arg-type]
    with pytest.raises(Exception, match="context"):
        gemma.prepare_completion("word " * 600, SamplingParams(max_tokens=10))
