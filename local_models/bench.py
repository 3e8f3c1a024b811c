"""`ragloop bench model`: the local server measured side by side with its limits and a peer, in one run.

Every contender answers the same greedy request; runs are interleaved so machine noise hits all of
them alike, and the report is made of medians and ratios, never of absolute thresholds.

- direct: llama-cpp-python called in-process with the same settings (the limit the server can reach);
- ours: `local_models.serve` through HTTP with the `openai` client;
- peer: llama-cpp-python's own `llama_cpp.server`, also through HTTP with the `openai` client.

This module imports `llama_cpp` itself, on purpose: the reference it measures against is the raw library,
not ragloop's engine. Token counts come from one tokenizer (the direct model's) applied to each contender's text, so the
three are counted the same way.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx

Messages = list[dict[str, Any]]

CONTEXT = (
    "The KV cache stores the attention keys and values of every token already processed, so a model "
    "generating the next token only computes attention for the new position. When two requests share "
    "a prefix, for example the same system prompt and the same retrieved passages, the cached state of "
    "that prefix can be reused and only the new suffix needs prompt processing. On a CPU, prompt "
    "processing of a long context dominates the latency of a retrieval-augmented answer, which makes "
    "prefix reuse the main lever for multi-turn chats and agent loops that resend the same context. "
)


@dataclass
class StreamStats:
    ttft: float  # seconds from sending the request to the first visible token
    gen_seconds: float  # from the first to the last token
    text: str
    tokens: int = 0

    @property
    def tokens_per_second(self) -> float:
        return (self.tokens - 1) / self.gen_seconds if self.tokens > 1 and self.gen_seconds > 0 else 0.0


@dataclass
class Row:
    scenario: str
    metric: str
    ours: float
    reference: float
    reference_name: str
    ratio: float
    target: str
    met: bool


@dataclass
class BenchReport:
    model: str
    runs: int
    max_tokens: int
    threads: int
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        head = f"{'scenario':<34} {'metric':<22} {'ours':>9} {'reference':>20} {'ratio':>7}  target"
        lines = [
            f"model {self.model}, {self.threads} threads, {self.runs} runs, max_tokens {self.max_tokens} (medians)",
            head,
            "-" * len(head),
        ]
        for r in self.rows:
            ref = f"{r.reference:.3f} {r.reference_name}"
            mark = "ok" if r.met else "MISSED"
            lines.append(f"{r.scenario:<34} {r.metric:<22} {r.ours:>9.3f} {ref:>20} {r.ratio:>7.2f}  {r.target} {mark}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


# the shape of the judge's verdict: free text first, then a closed choice
JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"rationale": {"type": "string", "maxLength": 400}, "grounded": {"type": "boolean"}},
    "required": ["rationale", "grounded"],
    "additionalProperties": False,
}


def stream_http(
    base_url: str,
    model: str,
    messages: Messages,
    max_tokens: int,
    api_key: str = "none",
    schema: dict[str, Any] | None = None,
) -> StreamStats:
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=600)
    start = time.perf_counter()
    first = last = 0.0
    parts: list[str] = []
    extra: dict[str, Any] = {}
    if schema is not None:
        extra["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    stream: Any = client.chat.completions.create(
        model=model, messages=cast(Any, messages), max_tokens=max_tokens, temperature=0, seed=0, stream=True, **extra
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            last = time.perf_counter()
            first = first or last
            parts.append(chunk.choices[0].delta.content)
    return StreamStats(ttft=first - start, gen_seconds=last - first, text="".join(parts))


def stream_direct(llm: Any, messages: Messages, max_tokens: int, schema: dict[str, Any] | None = None) -> StreamStats:
    start = time.perf_counter()
    first = last = 0.0
    parts: list[str] = []
    extra: dict[str, Any] = {}
    if schema is not None:  # llama-cpp-python's own JSON mode: the grammar filters the whole vocabulary
        extra["response_format"] = {"type": "json_object", "schema": schema}
    for chunk in llm.create_chat_completion(
        messages=messages, max_tokens=max_tokens, temperature=0, seed=0, stream=True, **extra
    ):
        delta = chunk["choices"][0]["delta"].get("content")
        if delta:
            last = time.perf_counter()
            first = first or last
            parts.append(delta)
    return StreamStats(ttft=first - start, gen_seconds=last - first, text="".join(parts))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def peer_server(model_path: Path, n_ctx: int, threads: int) -> Iterator[str]:
    """llama-cpp-python's own OpenAI server, in a subprocess, with the same model settings."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--n_ctx", str(n_ctx)]
    cmd += ["--n_threads", str(threads), "--n_threads_batch", str(threads), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--verbose", "False"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {(proc.stderr.read() if proc.stderr else '')[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError("llama_cpp.server did not start within 120 s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _chat(nonce: str, question: str, context_repeats: int = 3) -> Messages:
    return [
        {"role": "system", "content": f"Session {nonce}. You are a concise assistant.\n\n{CONTEXT * context_repeats}"},
        {"role": "user", "content": question},
    ]


def run_model_bench(
    model: str,
    cache_dir: Path,
    *,
    runs: int = 3,
    max_tokens: int = 128,
    n_ctx: int = 4096,
    threads: int | None = None,
    prompt_lookup: int = 10,
    with_peer: bool = True,
    progress: Callable[[str], None] = lambda _msg: None,
) -> BenchReport:
    from llama_cpp import Llama

    from local_models.cpu_features import usable_cores
    from local_models.registry import resolve_model
    from local_models.serve import serve

    threads = threads or usable_cores()  # the server's own default, so the contenders match it
    resolved = resolve_model(model, cache_dir)
    report = BenchReport(model=resolved.name, runs=runs, max_tokens=max_tokens, threads=threads)

    progress("loading the direct llama-cpp-python model")
    llm = Llama(str(resolved.path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False)

    def count(stats: StreamStats) -> StreamStats:
        stats.tokens = len(llm.tokenize(stats.text.encode(), add_bos=False, special=False))
        return stats

    question = "Explain in detail how reusing the KV cache speeds up a multi-turn chat, step by step."
    with contextlib.ExitStack() as stack:
        progress("starting servers")
        ours = stack.enter_context(serve(model, n_ctx=n_ctx, threads=threads, cache_dir=cache_dir))
        cold = stack.enter_context(serve(model, n_ctx=n_ctx, threads=threads, cache_dir=cache_dir, reuse_prefix=False))
        lookup = stack.enter_context(
            serve(model, n_ctx=n_ctx, threads=threads, cache_dir=cache_dir, prompt_lookup=prompt_lookup)
        )
        peer = stack.enter_context(peer_server(resolved.path, n_ctx, threads)) if with_peer else None

        results: dict[str, list[StreamStats]] = {"direct": [], "ours": [], "peer": []}
        for run in range(runs):
            progress(f"throughput run {run + 1}/{runs}")
            results["direct"].append(count(stream_direct(llm, _chat(uuid.uuid4().hex, question), max_tokens)))
            results["ours"].append(
                count(stream_http(ours, resolved.name, _chat(uuid.uuid4().hex, question), max_tokens))
            )
            if peer:
                results["peer"].append(
                    count(stream_http(peer, resolved.name, _chat(uuid.uuid4().hex, question), max_tokens))
                )
        tps = {k: _median([s.tokens_per_second for s in v]) for k, v in results.items()}
        ttft = {k: _median([s.ttft for s in v]) for k, v in results.items()}
        _add(
            report,
            "server vs direct llama-cpp-python",
            "generation tok/s",
            tps["ours"],
            tps["direct"],
            "direct",
            ">= 0.95",
            lambda r: r >= 0.95,
        )
        _add(
            report,
            "server vs direct llama-cpp-python",
            "time to first token s",
            ttft["ours"],
            ttft["direct"],
            "direct",
            "<= 1.10",
            lambda r: r <= 1.10,
        )
        if peer:
            _add(
                report,
                "server vs llama_cpp.server (peer)",
                "generation tok/s",
                tps["ours"],
                tps["peer"],
                "peer",
                ">= 1.00",
                lambda r: r >= 1.0,
            )
            _add(
                report,
                "server vs llama_cpp.server (peer)",
                "time to first token s",
                ttft["ours"],
                ttft["peer"],
                "peer",
                "<= 1.00",
                lambda r: r <= 1.0,
            )

        json_stats: dict[str, list[StreamStats]] = {"ours": [], "direct": []}
        json_q = "Judge this answer to 'What is a KV cache?': 'It stores keys and values.' Reply in JSON."
        for run in range(runs):
            progress(f"JSON output run {run + 1}/{runs}")
            json_stats["direct"].append(
                count(stream_direct(llm, _chat(uuid.uuid4().hex, json_q), max_tokens, JUDGE_SCHEMA))
            )
            chat = _chat(uuid.uuid4().hex, json_q)
            json_stats["ours"].append(count(stream_http(ours, resolved.name, chat, max_tokens, schema=JUDGE_SCHEMA)))
        _add(
            report,
            "JSON output (schema) vs direct",
            "generation tok/s",
            _median([s.tokens_per_second for s in json_stats["ours"]]),
            _median([s.tokens_per_second for s in json_stats["direct"]]),
            "direct",
            ">= 0.95",
            lambda r: r >= 0.95,
        )
        report.notes.append(
            "JSON output identical to llama-cpp-python's grammar-first sampling: "
            f"{all(a.text == b.text for a, b in zip(json_stats['ours'], json_stats['direct'], strict=True))}"
        )

        second_turn: dict[str, list[float]] = {"reuse": [], "cold": []}
        for run in range(runs):
            progress(f"multi-turn run {run + 1}/{runs}")
            for name, url in (("reuse", ours), ("cold", cold)):
                chat = _chat(uuid.uuid4().hex, "What does the KV cache store?", context_repeats=6)
                first = stream_http(url, resolved.name, chat, 48)
                chat += [
                    {"role": "assistant", "content": first.text},
                    {"role": "user", "content": "And why does that help a second turn?"},
                ]
                second_turn[name].append(stream_http(url, resolved.name, chat, 8).ttft)
        with_reuse, without = _median(second_turn["reuse"]), _median(second_turn["cold"])
        _add(
            report,
            "2nd turn: prefix reuse vs none",
            "time to first token s",
            with_reuse,
            without,
            "no reuse",
            "speed-up >= 2x",
            lambda r: r <= 0.5,
        )
        report.notes.append(
            f"prefix reuse makes the second turn's first token {without / max(with_reuse, 1e-9):.1f}x faster"
        )

        copy_stats: dict[str, list[StreamStats]] = {"lookup": [], "plain": []}
        copy_q = "Copy the text of the system message after the first line, word for word."
        for run in range(runs):
            progress(f"prompt-lookup run {run + 1}/{runs}")
            for name, url in (("lookup", lookup), ("plain", ours)):
                stats = stream_http(url, resolved.name, _chat(uuid.uuid4().hex, copy_q, 2), max_tokens)
                copy_stats[name].append(count(stats))
        lk = _median([s.tokens_per_second for s in copy_stats["lookup"]])
        plain = _median([s.tokens_per_second for s in copy_stats["plain"]])
        _add(
            report,
            f"prompt lookup (n={prompt_lookup}), copying",
            "generation tok/s",
            lk,
            plain,
            "plain",
            "> 1.00 to turn on",
            lambda r: r > 1.0,
        )
        same = all(a.text == b.text for a, b in zip(copy_stats["lookup"], copy_stats["plain"], strict=True))
        report.notes.append(f"prompt-lookup output identical to plain greedy decoding: {same}")
    return report


def _add(
    report: BenchReport,
    scenario: str,
    metric: str,
    ours: float,
    ref: float,
    ref_name: str,
    target: str,
    check: Callable[[float], bool],
) -> None:
    ratio = ours / ref if ref else 0.0
    report.rows.append(Row(scenario, metric, ours, ref, ref_name, ratio, target, check(ratio)))
