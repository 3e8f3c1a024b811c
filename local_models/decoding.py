"""The token loop over one llama.cpp context: prompt prefill with KV prefix reuse, sampler chains with
grammars, and prompt-lookup speculative decoding.

`Llama.generate` is not used: it forces `logits_all` (and an n_ctx × n_vocab score matrix) when a draft model
is set, and hides how much of the prompt was reused. This loop asks llama.cpp for logits only where it
samples and reports the reused prefix. It keeps `Llama.input_ids` / `Llama.n_tokens` (the record of what
the KV cache holds) up to date, so the `Llama` object stays consistent if it is also used directly.
Relies on `Llama._ctx`, `Llama._batch` and `Llama._model` of llama-cpp-python 0.3.36 (pinned).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import llama_cpp
import numpy as np
from llama_cpp._internals import LlamaSampler, LlamaTokenDataArray

from local_models.types import SamplingParams

DraftFn = Callable[[np.ndarray], np.ndarray]  # token ids so far -> proposed next tokens
PENALTY_LAST_N = 64


class GrammarError(ValueError):
    """llama.cpp could not parse a grammar."""


@dataclass
class DecodeStats:
    """Counters for the last run: decode calls and prompt-lookup proposals/acceptances."""

    decode_calls: int = 0
    draft_proposed: int = 0
    draft_accepted: int = 0
    tool_call_repairs: int = 0  # model-written calls that failed validation and were regenerated


def build_sampler(
    llm: llama_cpp.Llama, params: SamplingParams, grammar: str | None, *, check_first: bool = True
) -> Sampler:
    """A llama.cpp sampler chain: penalties, then greedy (temperature 0) or the usual filters; with a grammar,
    wrapped in a `GrammarSampler`, or (with penalties, or `check_first=False`) the grammar first in the chain."""
    grammar_pointer = None
    if grammar is not None:
        grammar_pointer = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode(), b"root")
        if not grammar_pointer:
            raise GrammarError("llama.cpp rejected the grammar")
    sampler = LlamaSampler()
    if params.repeat_penalty != 1.0:
        sampler.add_penalties(llm.n_vocab(), PENALTY_LAST_N, params.repeat_penalty, 0.0, 0.0)
        check_first = False  # the penalties remember every token the chain accepts: it must see the final one
    if grammar_pointer is not None and not check_first:
        # the grammar filters the whole vocabulary at every step (exact, and slow on a large vocabulary)
        llama_cpp.llama_sampler_chain_add(sampler.sampler, grammar_pointer)
        grammar_pointer = None
    if params.temperature == 0:
        sampler.add_greedy()
    else:
        sampler.add_top_k(params.top_k)
        sampler.add_top_p(params.top_p, 1)
        sampler.add_min_p(params.min_p, 1)
        sampler.add_temp(params.temperature)
        seed = llama_cpp.LLAMA_DEFAULT_SEED if params.seed is None else params.seed & 0xFFFFFFFF
        sampler.add_dist(seed)
    if grammar_pointer is not None:
        return GrammarSampler(sampler, grammar_pointer, llm.n_vocab())
    return sampler


class Sampler(Protocol):
    def sample(self, ctx: Any, idx: int = -1) -> int: ...

    def close(self) -> None: ...


class GrammarSampler:
    """Grammar-constrained sampling that asks the grammar about the chosen token only.

    Putting the grammar in the chain makes llama.cpp check every token of the vocabulary against it at every
    step, on one thread: for a 151k-token vocabulary that halved the generation speed of JSON output. Here the
    chain (no stateful sampler: no penalties) picks a token from the unconstrained logits, and the grammar
    checks that one token; only when it refuses is the whole vocabulary filtered and the chain applied again
    (llama.cpp's own `common_sampler` does the same). The result is the same as filtering first: greedy picks
    the same token (the best token is the best allowed token when it is allowed), and sampling draws from the
    same distribution (a token is drawn directly with its probability p, or after a refusal with p / P(allowed)).
    `fallbacks` counts the full filterings.
    """

    def __init__(self, chain: LlamaSampler, grammar: Any, n_vocab: int) -> None:
        self.chain = chain
        self.grammar = grammar
        self.n_vocab = n_vocab
        self.fallbacks = 0
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_array = llama_cpp.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)
        self._all: LlamaTokenDataArray | None = None

    def sample(self, ctx: Any, idx: int = -1) -> int:
        token = int(llama_cpp.llama_sampler_sample(self.chain.sampler, ctx.ctx, idx))  # applies and accepts
        one = self._one[0]
        one.id, one.logit, one.p = token, 0.0, 0.0  # type: ignore[assignment]  # ctypes converts the int
        self._one_array.size, self._one_array.selected, self._one_array.sorted = 1, -1, False
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(self._one_array))
        if self._one[0].logit == float("-inf"):
            token = self._constrained(ctx, idx)
        llama_cpp.llama_sampler_accept(self.grammar, token)
        return token

    def _constrained(self, ctx: Any, idx: int) -> int:
        self.fallbacks += 1
        if self._all is None:
            self._all = LlamaTokenDataArray(n_vocab=self.n_vocab)
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx.ctx, idx), shape=(self.n_vocab,))
        self._all.copy_logits(logits)
        self._all.candidates.selected = -1
        candidates = ctypes.byref(self._all.candidates)
        llama_cpp.llama_sampler_apply(self.grammar, candidates)
        llama_cpp.llama_sampler_apply(self.chain.sampler, candidates)
        # the chain keeps no history (no penalties here), so nothing to undo for the refused token
        return int(self._all.candidates_data.id[self._all.candidates.selected])

    def close(self) -> None:
        if self.grammar is not None:
            llama_cpp.llama_sampler_free(self.grammar)
            self.grammar = None
        self.chain.close()


def check_grammar(llm: llama_cpp.Llama, grammar: str) -> None:
    """Raise `GrammarError` unless llama.cpp accepts the grammar (it is parsed, then freed)."""
    pointer = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode(), b"root")
    if not pointer:
        raise GrammarError("llama.cpp rejected the grammar")
    llama_cpp.llama_sampler_free(pointer)


class Decoder:
    """The KV cache of one context and the tokens it holds (positions 0..n_past-1)."""

    def __init__(self, llm: llama_cpp.Llama) -> None:
        self.llm = llm
        self.n_ctx = llm.n_ctx()
        self.n_batch = llm.n_batch
        self.stats = DecodeStats()
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}

    def is_eog(self, token: int) -> bool:
        """Does `token` end generation (end-of-sequence, end-of-turn)? Cached per token id."""
        known = self._eog.get(token)
        if known is None:
            known = self._eog[token] = bool(llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))
        return known

    def piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens render as nothing); cached per token id."""
        cached = self._pieces.get(token)
        if cached is None:
            size = 64
            while True:
                buffer = ctypes.create_string_buffer(size)
                n = llama_cpp.llama_token_to_piece(self.llm._model.vocab, token, buffer, size, 0, False)
                if n >= 0:
                    break
                size = -n
            cached = self._pieces[token] = buffer.raw[:n]
        return cached

    @property
    def n_past(self) -> int:
        """How many positions of the context hold evaluated tokens."""
        return int(self.llm.n_tokens)

    def tokens(self) -> np.ndarray:
        """The tokens whose KV state is in the cache (a view; copy before changing the context)."""
        return self.llm.input_ids[: self.llm.n_tokens]

    def _set_past(self, n: int) -> None:
        self.llm.n_tokens = n
        self.llm._requires_eval = True

    def tokenize(self, text: str) -> list[int]:
        """Tokens of `text`, special-token markup included, without BOS."""
        return list(self.llm.tokenize(text.encode(), add_bos=False, special=True))

    def clear(self) -> None:
        self.llm._ctx.kv_cache_clear()
        self._set_past(0)

    def truncate(self, n: int) -> None:
        """Forget every position from `n` on."""
        if n >= self.n_past:
            return
        if self.llm._ctx.kv_cache_seq_rm(0, n, -1):
            self._set_past(n)
            return
        kept = self.tokens()[:n].tolist()  # some caches (recurrent, hybrid) cannot drop a suffix: rebuild
        self.clear()
        self.decode(kept)

    def reuse_prefix(self, prompt: list[int]) -> int:
        """Keep the longest cached prefix of `prompt` (leaving at least one token to evaluate, for fresh
        logits); return how many prompt tokens need no evaluation."""
        cached = self.tokens()[: len(prompt)]
        differ = np.flatnonzero(cached != np.asarray(prompt[: len(cached)], dtype=np.intc))
        common = min(int(differ[0]) if differ.size else len(cached), len(prompt) - 1)
        if common < self.n_past:
            if not self.llm._ctx.kv_cache_seq_rm(0, common, -1):
                self.clear()
                return 0
            self._set_past(common)
        return common

    def decode(self, tokens: list[int], cancel: threading.Event | None = None, all_logits: bool = False) -> bool:
        """Append `tokens` to the context in batches; False when cancelled between batches."""
        for start in range(0, len(tokens), self.n_batch):
            if cancel is not None and cancel.is_set():
                return False
            batch = tokens[start : start + self.n_batch]
            n_past = self.n_past
            self.llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=all_logits)
            self.llm._ctx.decode(self.llm._batch)
            self.stats.decode_calls += 1
            self.llm.input_ids[n_past : n_past + len(batch)] = batch
            self.llm.n_tokens = n_past + len(batch)
            self.llm._requires_eval = False
        return True

    def sample(self, sampler: Sampler, index: int = -1) -> int:
        """Sample (and accept into the chain) from the logits of batch position `index`."""
        return int(sampler.sample(self.llm._ctx, index))

    def step(self, last: int, sampler: Sampler, draft: DraftFn | None, budget: int) -> list[int]:
        """Decode `last` (plus drafted guesses) and return 1..budget new tokens.

        With a draft function, the proposed continuation is verified in the same batch: each position is
        sampled exactly as plain decoding would, and the first disagreement ends the step. The KV cache is
        then trimmed to `last` + the accepted guesses, so the invariant "every generated token but the
        newest is in the cache" holds after every step.
        """
        n_past = self.n_past
        guesses: list[int] = []
        if draft is not None and budget > 1:
            self.llm.input_ids[n_past] = last
            proposed = draft(self.llm.input_ids[: n_past + 1])
            room = min(budget - 1, self.n_ctx - n_past - 1, self.n_batch - 1)
            guesses = [int(t) for t in proposed[:room]]
            self.stats.draft_proposed += len(guesses)
        batch = [last, *guesses]
        self.decode(batch, all_logits=bool(guesses))
        out: list[int] = []
        for index in range(len(batch)):
            token = self.sample(sampler, index if guesses else -1)
            out.append(token)
            if index == len(guesses) or token != guesses[index] or self.is_eog(token):
                break
        self.stats.draft_accepted += len(out) - 1
        self.truncate(n_past + len(out))
        return out

    def generate(self, sampler: Sampler, draft: DraftFn | None, budget: int) -> Iterator[int]:
        """Sample from the current logits, then keep stepping; at most `budget` tokens. The caller stops
        iterating at an end-of-generation token, a stop string or cancellation."""
        if budget <= 0:
            return
        last = self.sample(sampler)
        produced = 1
        yield last
        while produced < budget:
            for token in self.step(last, sampler, draft, budget - produced):
                produced += 1
                last = token
                yield token
