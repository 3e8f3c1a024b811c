"""Server metrics in the Prometheus text format (no client library: a few counters and histograms).

Exposed names (all prefixed `ragloop_`):
- `requests_total{endpoint,status}`: HTTP requests by route and status code;
- `queue_depth` (requests waiting), `queue_running` (0 or 1), `requests_skipped_total` (left while queued);
- `finished_total{endpoint,reason}`: generations by finish reason (`cancelled` = the client disconnected);
- `prompt_tokens_total`, `cached_prompt_tokens_total` (KV prefix reuse), `completion_tokens_total`;
- `prompt_seconds_total`, `generation_seconds_total` (divide for tokens/s), and the last job's
  `prompt_tokens_per_second` / `generation_tokens_per_second`;
- `time_to_first_token_seconds` histogram (from arrival, queue wait included) and `queue_wait_seconds`.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter

from local_models.types import FinishEvent

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def render(self, name: str, help_text: str) -> list[str]:
        lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        cumulative = 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            cumulative += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {cumulative}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {self.count}')
        lines.append(f"{name}_sum {self.total:.6f}")
        lines.append(f"{name}_count {self.count}")
        return lines


class Metrics:
    """Thread-safe: updated by the event loop (requests) and the worker thread (generations)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.finished: Counter[tuple[str, str]] = Counter()
        self.queue_depth = 0
        self.running = 0
        self.skipped = 0
        self.prompt_tokens = 0
        self.cached_prompt_tokens = 0
        self.completion_tokens = 0
        self.prompt_seconds = 0.0
        self.generation_seconds = 0.0
        self.last_prompt_tps = 0.0
        self.last_generation_tps = 0.0
        self.ttft = Histogram()
        self.queue_wait = Histogram()

    def count_request(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.requests[(endpoint, status)] += 1

    def count_skipped(self) -> None:
        with self._lock:
            self.skipped += 1

    def set_queue(self, depth: int, running: bool) -> None:
        with self._lock:
            self.queue_depth = depth
            self.running = int(running)

    def observe_queue_wait(self, seconds: float) -> None:
        with self._lock:
            self.queue_wait.observe(seconds)

    def observe_first_token(self, seconds: float) -> None:
        with self._lock:
            self.ttft.observe(seconds)

    def observe_finish(self, endpoint: str, finish: FinishEvent) -> None:
        usage, timings = finish.usage, finish.timings
        with self._lock:
            self.finished[(endpoint, finish.finish_reason)] += 1
            self.prompt_tokens += usage.prompt_tokens
            self.cached_prompt_tokens += usage.cached_prompt_tokens
            self.completion_tokens += usage.completion_tokens
            self.prompt_seconds += timings.prompt_seconds
            self.generation_seconds += timings.generation_seconds
            computed = usage.prompt_tokens - usage.cached_prompt_tokens
            if timings.prompt_seconds > 0:
                self.last_prompt_tps = computed / timings.prompt_seconds
            if timings.generation_seconds > 0 and usage.completion_tokens > 1:
                # the first token is produced by the prompt pass; the rest by generation steps
                self.last_generation_tps = (usage.completion_tokens - 1) / timings.generation_seconds

    def render(self) -> str:
        with self._lock:
            lines: list[str] = []

            def scalar(name: str, kind: str, help_text: str, value: float) -> None:
                lines.extend([f"# HELP ragloop_{name} {help_text}", f"# TYPE ragloop_{name} {kind}"])
                lines.append(f"ragloop_{name} {value:g}" if isinstance(value, int) else f"ragloop_{name} {value:.6f}")

            lines += ["# HELP ragloop_model_info The model this server runs.", "# TYPE ragloop_model_info gauge"]
            lines.append(f'ragloop_model_info{{model="{_escape(self.model)}"}} 1')
            lines += [
                "# HELP ragloop_requests_total HTTP requests by route and status.",
                "# TYPE ragloop_requests_total counter",
            ]
            for (endpoint, status), n in sorted(self.requests.items()):
                lines.append(f'ragloop_requests_total{{endpoint="{_escape(endpoint)}",status="{status}"}} {n}')
            lines += [
                "# HELP ragloop_finished_total Generations by finish reason.",
                "# TYPE ragloop_finished_total counter",
            ]
            for (endpoint, reason), n in sorted(self.finished.items()):
                lines.append(f'ragloop_finished_total{{endpoint="{_escape(endpoint)}",reason="{reason}"}} {n}')
            scalar("queue_depth", "gauge", "Requests waiting for the model.", self.queue_depth)
            scalar("queue_running", "gauge", "Requests being generated (0 or 1).", self.running)
            scalar("requests_skipped_total", "counter", "Requests whose client left while queued.", self.skipped)
            scalar("prompt_tokens_total", "counter", "Prompt tokens processed or reused.", self.prompt_tokens)
            scalar(
                "cached_prompt_tokens_total",
                "counter",
                "Prompt tokens reused from the KV cache.",
                self.cached_prompt_tokens,
            )
            scalar("completion_tokens_total", "counter", "Tokens generated.", self.completion_tokens)
            scalar("prompt_seconds_total", "counter", "Seconds spent on prompt processing.", self.prompt_seconds)
            scalar(
                "generation_seconds_total",
                "counter",
                "Seconds spent generating after the first token.",
                self.generation_seconds,
            )
            scalar(
                "prompt_tokens_per_second", "gauge", "Prompt processing speed of the last job.", self.last_prompt_tps
            )
            scalar(
                "generation_tokens_per_second", "gauge", "Generation speed of the last job.", self.last_generation_tps
            )
            lines += self.ttft.render(
                "ragloop_time_to_first_token_seconds", "Arrival to first generated token (queue wait included)."
            )
            lines += self.queue_wait.render("ragloop_queue_wait_seconds", "Time requests spent waiting in the queue.")
            return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def sample(text: str, name: str) -> float:
    """The value of one sample in Prometheus text (`name` with its labels, as rendered); 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
