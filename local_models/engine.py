"""`LlamaEngine`: one GGUF model in one llama.cpp context, implementing `local_models.types.Engine`.

`prepare_chat` / `prepare_completion` validate and tokenize a request (raising `EngineError`s for bad input);
`run` generates it on the caller's thread, one job at a time. llama_cpp is imported only by this module
and its helpers `decoding` and `grammars`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from time import perf_counter
from typing import Any

import llama_cpp
from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

from local_models.chat_format import ChatTemplate, ToolStyle, infer_tool_style, normalize_messages, prompted_messages
from local_models.cpu_features import check_llama_build, usable_cores
from local_models.decoding import Decoder, DecodeStats, GrammarError, check_grammar
from local_models.errors import ModelError
from local_models.generation import Generation, Plan
from local_models.grammars import GrammarSpec, response_format_grammar, tool_call_grammar
from local_models.registry import ModelSpec, resolve_model
from local_models.stderr_cap import capped_stderr
from local_models.tool_calls import CALL_PREFIX, CALL_SUFFIX, ToolSet, check_tools, resolve_tool_choice
from local_models.types import (
    ContextLengthExceededError,
    Event,
    InvalidRequestError,
    Job,
    SamplingParams,
)

log = logging.getLogger(__name__)


class LlamaEngine:
    """A loaded model. Not thread-safe: `run` must be driven by one worker at a time."""

    def __init__(
        self,
        llm: llama_cpp.Llama,
        model_name: str,
        spec: ModelSpec | None = None,
        *,
        prompt_lookup: int | None = None,
        reuse_prefix: bool = True,
    ) -> None:
        self.llm = llm
        self.model_name = model_name
        self.n_ctx = llm.n_ctx()
        self.reuse_prefix = reuse_prefix
        self.prompt_lookup = prompt_lookup
        self._decoder = Decoder(llm)
        source = llm.metadata.get("tokenizer.chat_template")
        self.tool_style = _tool_style(spec, source)
        self._add_bos = llm._model.add_bos_token()
        self._bos_text = self._special_text(llm.token_bos())
        self._template: ChatTemplate | None = None
        self._no_chat_reason = "it has no chat template (a base model)"
        if source and self.tool_style != "none":
            try:
                self._template = ChatTemplate(source, self._bos_text, self._special_text(llm.token_eos()))
            except ValueError as exc:
                log.warning("%s: chat disabled: %s", model_name, exc)
                self._no_chat_reason = str(exc)

    # -- options ---------------------------------------------------------------------------------------
    @property
    def prompt_lookup(self) -> int | None:
        """Prompt-lookup speculative decoding: how many tokens to guess per step (None: off)."""
        return self._prompt_lookup

    @prompt_lookup.setter
    def prompt_lookup(self, num_pred_tokens: int | None) -> None:
        self._prompt_lookup = num_pred_tokens
        self._draft = LlamaPromptLookupDecoding(num_pred_tokens=num_pred_tokens) if num_pred_tokens else None

    @property
    def stats(self) -> DecodeStats:
        """Counters of the last `run` (decode calls, drafted and accepted tokens)."""
        return self._decoder.stats

    @property
    def supports_chat(self) -> bool:
        return self._template is not None

    def close(self) -> None:
        self.llm.close()

    def tokenize(self, text: str, add_bos: bool = False) -> list[int]:
        return list(self.llm.tokenize(text.encode(), add_bos=add_bos, special=True))

    def _special_text(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode(errors="replace") if token >= 0 else ""

    # -- preparing jobs --------------------------------------------------------------------------------
    def prepare_chat(
        self,
        messages: list[dict[str, Any]],
        sampling: SamplingParams,
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: dict[str, Any] | None = None,
    ) -> Job:
        if self._template is None:
            raise InvalidRequestError(
                f"Model {self.model_name!r} cannot chat: {self._no_chat_reason}. Use /v1/completions with a "
                "plain prompt, or serve a chat model such as qwen2.5-coder-0.5b.",
                "model",
            )
        check_sampling(sampling)
        normalized = normalize_messages(messages)
        toolset = check_tools(tools) if tools else None
        mode, names = resolve_tool_choice(tool_choice, toolset)
        output = response_format_grammar(response_format)
        if output is not None and mode != "none":
            raise InvalidRequestError(
                "response_format cannot be combined with tool calls; send tool_choice 'none', or drop response_format.",
                "response_format",
            )
        shown = toolset.definitions if toolset is not None and mode != "none" else None
        if self.tool_style == "native":
            prompt = self._template.render(normalized, shown)
        else:
            prompt = self._template.render(prompted_messages(normalized, shown))
        plan, grammar = self._plan(mode, names, toolset, output)
        if plan.mode == "required":
            prompt += CALL_PREFIX  # the call's opening markup is part of the prompt; the grammar does the rest
        add_bos = self._add_bos and not (self._bos_text and prompt.startswith(self._bos_text))
        tokens = self.tokenize(prompt, add_bos=add_bos)
        self._check_context(tokens, sampling, "messages")
        return Job(
            "chat",
            tokens,
            sampling,
            grammar,
            toolset.definitions if toolset else None,
            tool_choice,
            response_format,
            {"plan": plan},
        )

    def prepare_completion(
        self, prompt: str, sampling: SamplingParams, *, response_format: dict[str, Any] | None = None
    ) -> Job:
        if not isinstance(prompt, str):
            raise InvalidRequestError("prompt must be a string.", "prompt")
        check_sampling(sampling)
        grammar = response_format_grammar(response_format)
        self._check_grammar(grammar, "response_format")
        tokens = self.tokenize(prompt, add_bos=self._add_bos)
        if not tokens:
            raise InvalidRequestError("prompt is empty.", "prompt")
        self._check_context(tokens, sampling, "prompt")
        return Job(
            "completion", tokens, sampling, grammar, response_format=response_format, extra={"plan": Plan("text")}
        )

    def _plan(
        self, mode: str, names: list[str], toolset: ToolSet | None, output: GrammarSpec | None
    ) -> tuple[Plan, GrammarSpec | None]:
        if mode == "none" or toolset is None:
            self._check_grammar(output, "response_format")
            return Plan("text"), output
        parameters = {name: toolset.parameters[name] for name in names}
        call = tool_call_grammar(parameters, CALL_SUFFIX)
        self._check_grammar(call, "tools")
        return Plan("required" if mode == "required" else "auto", parameters), call

    def _check_grammar(self, grammar: GrammarSpec | None, param: str) -> None:
        if grammar is None:
            return
        try:
            with capped_stderr():  # llama.cpp prints a rejected grammar whole (fprintf), 100+ KB
                check_grammar(self.llm, grammar.gbnf)
        except GrammarError as exc:
            raise InvalidRequestError(f"The {param} schema gives a grammar llama.cpp cannot parse.", param) from exc

    def _check_context(self, tokens: list[int], sampling: SamplingParams, param: str) -> None:
        if len(tokens) + (sampling.max_tokens or 0) > self.n_ctx or len(tokens) >= self.n_ctx:
            error = ContextLengthExceededError(len(tokens), sampling.max_tokens, self.n_ctx)
            error.param = param
            raise error

    # -- running jobs ----------------------------------------------------------------------------------
    def run(self, job: Job, cancel: threading.Event | None = None) -> Iterator[Event]:
        plan = job.extra.get("plan")
        if not isinstance(plan, Plan):
            raise ValueError("this job was not prepared by LlamaEngine.prepare_*")
        self._decoder.stats = DecodeStats()
        generation = Generation(self._decoder, self._draft, job, plan, cancel)
        try:
            if not self.reuse_prefix:
                self._decoder.clear()
            cached = self._decoder.reuse_prefix(job.prompt_tokens)
            prefilled = self._decoder.decode(job.prompt_tokens[cached:], cancel)
            generation.prompt_done = perf_counter()
            if not prefilled:
                yield generation.finish_event("cancelled", "", [], cached)
                return
            yield from generation.events(cached)
        except Exception:
            self._decoder.clear()  # after a failed decode the cache may not match our record of it
            raise


def _tool_style(spec: ModelSpec | None, template: str | None) -> ToolStyle:
    """The registry's word for registered models; for other GGUF files, what the template suggests."""
    if spec is None:
        return infer_tool_style(template)
    if not spec.chat_template or spec.tool_calls == "none":
        return "none"
    return "native" if spec.tool_calls == "native" else "prompted"


def check_sampling(sampling: SamplingParams) -> None:
    """Raise `InvalidRequestError` for out-of-range sampling parameters."""
    checks = [
        (sampling.temperature >= 0, "temperature", "must be >= 0"),
        (0 < sampling.top_p <= 1, "top_p", "must be in (0, 1]"),
        (sampling.top_k >= 0, "top_k", "must be >= 0"),
        (0 <= sampling.min_p <= 1, "min_p", "must be in [0, 1]"),
        (sampling.repeat_penalty > 0, "repeat_penalty", "must be > 0"),
        (sampling.max_tokens is None or sampling.max_tokens >= 1, "max_tokens", "must be >= 1"),
        (all(isinstance(s, str) for s in sampling.stop), "stop", "must be strings"),
    ]
    for ok, param, rule in checks:
        if not ok:
            raise InvalidRequestError(f"{param} {rule}.", param)


def load_engine(
    ref: str,
    cache_dir: Path,
    *,
    n_ctx: int = 4096,
    n_threads: int | None = None,
    prompt_lookup: int | None = None,
    reuse_prefix: bool = True,
) -> LlamaEngine:
    """Resolve `ref` (registered name, .gguf path or hub id) and load it into one llama.cpp context."""
    resolved = resolve_model(ref, cache_dir)
    if resolved.spec is not None and n_ctx > resolved.spec.context_length:
        log.warning("n_ctx %d exceeds %s's training context %d", n_ctx, resolved.name, resolved.spec.context_length)
    if not resolved.path.is_file():  # a FIFO or a device would block or mislead llama.cpp's reader
        raise ModelError(f"{resolved.path} is not a regular file; pass a .gguf model file (or a registered name).")
    check_llama_build()
    threads = n_threads or usable_cores()  # llama-cpp-python's default would generate on half the cores
    try:
        llm = llama_cpp.Llama(
            model_path=str(resolved.path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"llama.cpp could not load {resolved.path}: {exc}. Is it a valid GGUF file?") from exc
    log.info(
        "loaded %s (n_ctx=%d, %d threads, tool calls: %s)",
        resolved.name,
        n_ctx,
        threads,
        resolved.spec.tool_calls if resolved.spec else "inferred",
    )
    return LlamaEngine(llm, resolved.name, resolved.spec, prompt_lookup=prompt_lookup, reuse_prefix=reuse_prefix)
