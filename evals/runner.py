"""`ragloop eval run`: a suite through every configuration, resumable, then scored and reported.

Phases, each skipping what the run directory's cache already holds:
1. the corpus is brought up to date in the suite's collection (unchanged files cost a hash);
2. answers: per configuration (configurations that differ only by judge share them), each item is asked;
3. verdicts: per judge model (one model server at a time), each answer is judged;
4. records, summary and reports are written from the cache.

The run measures its own overhead: wall time minus the time spent in models and retrieval (runtime start-up
with model servers, agent questions, searches, judge calls, ingest).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.cache import RunCache
from evals.dataset import Item, load_dataset
from evals.errors import EvalError
from evals.suite import Configuration, Suite

if TYPE_CHECKING:
    from agent.settings import Settings

RECORDS = "records.jsonl"
SUMMARY = "summary.json"


@dataclass
class RunClock:
    """Wall time and the part of it spent in models and retrieval. With `path`, every addition is saved there,
    so the totals of a run stopped and resumed several times add up over its invocations (`total_timing`)."""

    started: float = field(default_factory=time.perf_counter)
    model_retrieval: dict[str, float] = field(default_factory=dict)
    path: Path | None = None

    def add(self, part: str, seconds: float) -> None:
        self.model_retrieval[part] = self.model_retrieval.get(part, 0.0) + seconds
        self.save()

    def save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.as_dict()), encoding="utf-8")
            tmp.replace(self.path)

    def timed(self, part: str) -> _Timed:
        return _Timed(self, part)

    def as_dict(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.started
        return timing_dict(wall, self.model_retrieval)


def timing_dict(wall: float, parts: dict[str, float]) -> dict[str, Any]:
    overhead = max(wall - sum(parts.values()), 0.0)
    return {
        "wall_seconds": round(wall, 3),
        "model_and_retrieval_seconds": {k: round(v, 3) for k, v in parts.items()},
        "harness_overhead_seconds": round(overhead, 3),
        "harness_overhead_share": round(overhead / wall, 4) if wall > 0 else None,
    }


def total_timing(directory: Path) -> dict[str, Any]:
    """The timings of every invocation that worked on a run directory, added up."""
    wall = 0.0
    parts: dict[str, float] = {}
    invocations = 0
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        invocations += 1
        wall += float(data["wall_seconds"])
        for key, value in data["model_and_retrieval_seconds"].items():
            parts[key] = parts.get(key, 0.0) + float(value)
    return {**timing_dict(wall, parts), "invocations": invocations}


class _Timed:
    def __init__(self, clock: RunClock, part: str) -> None:
        self.clock, self.part = clock, part

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.clock.add(self.part, time.perf_counter() - self.start)


def _progress(items: list[Any], desc: str, enabled: bool) -> Iterator[Any]:
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, unit="item", file=sys.stderr, disable=not enabled, dynamic_ncols=True)


def _say(message: str, enabled: bool) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)


def suite_items(suite: Suite, limit: int | None) -> list[Item]:
    assert suite.dataset is not None
    return load_dataset(suite.dataset)[:limit]


def run_suite(
    suite: Suite,
    out: Path,
    settings: Settings,
    *,
    repeats: int | None = None,
    limit: int | None = None,
    progress: bool = True,
    report_only: bool = False,
) -> dict[str, Any]:
    """Run (or resume) `suite` into `out`; returns the summary (also written to `out/summary.json`).
    `report_only`: ask and judge nothing; report what the cache holds (a stopped run's finished part)."""
    if suite.retrieval_only:
        from evals.beir_suite import run_beir_suite

        return run_beir_suite(suite, out, settings, limit=limit, progress=progress)
    from evals.compose import chat_model_of, collection_of, for_collection, ingest_corpus

    out.mkdir(parents=True, exist_ok=True)
    clock = RunClock(path=out / "timing" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.json")
    items = suite_items(suite, limit)
    repeats = repeats or suite.repeats
    cache = RunCache(out / "cache")
    collection = suite.collection or collection_of(settings)
    if suite.corpus is not None and not report_only:
        with clock.timed("ingest"):
            ingested = ingest_corpus(for_collection(settings, collection), suite.corpus)
        _say(ingested, progress)

    # resolved models per configuration
    resolved: dict[str, tuple[str, str]] = {}
    for config in suite.configurations:
        chat_model = config.chat_model or chat_model_of(settings)
        resolved[config.name] = (chat_model, config.judge_model or chat_model)

    answers_done: set[str] = set()
    for config in suite.configurations:
        chat_model, _ = resolved[config.name]
        key = config.answer_key(collection, chat_model)
        if key in answers_done:
            continue
        answers_done.add(key)
        todo = [
            (item, r) for item in items for r in range(repeats) if _needs_answer(cache.get("answers", key, item, r))
        ]
        if report_only:
            continue
        if not todo:
            _say(f"{config.name}: all {len(items) * repeats} answers cached", progress)
            continue
        _answer_all(config, key, todo, cache, settings, collection, clock, progress)

    criteria = suite.criteria
    if criteria and not report_only:
        by_judge: dict[str, list[Configuration]] = {}
        for config in suite.configurations:
            by_judge.setdefault(resolved[config.name][1], []).append(config)
        for judge_model, configs in by_judge.items():
            _judge_all(
                suite, judge_model, configs, items, repeats, cache, resolved, settings, collection, clock, progress
            )

    from evals.report import write_reports
    from evals.scoring import build_record
    from evals.summary import summarize_run

    records = []
    for config in suite.configurations:
        chat_model, judge_model = resolved[config.name]
        akey = config.answer_key(collection, chat_model)
        jkey = config.judge_key(collection, chat_model, judge_model, criteria)
        for item in items:
            for r in range(repeats):
                answer = cache.get("answers", akey, item, r)
                if answer is None:
                    continue
                verdicts = cache.get("verdicts", jkey, item, r) if criteria else None
                if criteria and verdicts is None:  # report_only on a run stopped before judging this answer
                    reason = "the model timed out" if answer.get("timed_out") else "not judged (the run stopped before)"
                    verdicts = {c: {"criterion": c, "passed": None, "reason": reason, "seconds": 0.0} for c in criteria}
                records.append(build_record(config, item, r, answer, verdicts, suite.metrics))
    with (out / RECORDS).open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
    labels = load_labels(suite.labels) if suite.labels else None
    meta = {
        "suite": suite.name,
        "description": suite.description,
        "suite_path": str(suite.path),
        "dataset": str(suite.dataset),
        "collection": collection,
        "seed": suite.seed,
        "repeats": repeats,
        "items": len(items),
        "limit": limit,
        "report_only": report_only,
        "configurations": [
            {
                **c.model_dump(),
                "chat_model": resolved[c.name][0],
                "judge_model": resolved[c.name][1],
                "answer_key": c.answer_key(collection, resolved[c.name][0]),
            }
            for c in suite.configurations
        ],
        "criteria": criteria,
    }
    summary = summarize_run(meta, records, seed=suite.seed, labels=labels, samples=settings.evals.bootstrap_samples)
    clock.save()
    summary["timing"] = total_timing(out / "timing")
    write_reports(out, summary, records)
    clock.save()
    summary["timing"] = total_timing(out / "timing")  # reports included
    (out / SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    return summary


def _answer_all(
    config: Configuration,
    key: str,
    todo: list[tuple[Item, int]],
    cache: RunCache,
    settings: Settings,
    collection: str,
    clock: RunClock,
    progress: bool,
) -> None:
    from evals.answering import answer_item
    from evals.compose import config_settings, open_agent_session

    settings = config_settings(settings, config, collection)
    with tempfile.TemporaryDirectory(prefix="ragloop-eval-") as tmp:
        start = time.perf_counter()
        with open_agent_session(settings, config, Path(tmp) / "threads.sqlite") as session:
            clock.add("startup", time.perf_counter() - start)
            for item, repeat in _progress(todo, f"answers {config.name}", progress):
                start = time.perf_counter()
                result = answer_item(session, item, config.k)
                clock.add("agent", result["seconds"])
                clock.add("search", result["search_seconds"])
                cache.put("answers", key, item, repeat, result)
            start = time.perf_counter()
        clock.add("startup", time.perf_counter() - start)  # shutting the servers down


def _judge_all(
    suite: Suite,
    judge_model: str,
    configs: list[Configuration],
    items: list[Item],
    repeats: int,
    cache: RunCache,
    resolved: dict[str, tuple[str, str]],
    settings: Settings,
    collection: str,
    clock: RunClock,
    progress: bool,
) -> None:
    from agent.judge import CitedSource
    from evals.compose import for_judge, open_judge
    from evals.judge import judge_all
    from evals.scoring import judge_inputs

    todo: list[tuple[str, Item, int, dict[str, Any]]] = []
    for config in configs:
        chat_model = resolved[config.name][0]
        akey = config.answer_key(collection, chat_model)
        jkey = config.judge_key(collection, chat_model, judge_model, suite.criteria)
        for item in items:
            for r in range(repeats):
                answer = cache.get("answers", akey, item, r)
                if answer is None or cache.get("verdicts", jkey, item, r) is not None:
                    continue
                skip = judge_inputs(item, answer)
                if answer.get("timed_out"):
                    continue  # not cached: the answer is asked again when the run resumes
                if skip is not None:  # nothing to judge: record why, without a model call
                    cache.put("verdicts", jkey, item, r, unjudged_verdicts(item, skip, suite.criteria))
                    continue
                todo.append((jkey, item, r, answer))
    if not todo:
        return
    unique = {j for j, *_ in todo}
    _say(f"judging {len(todo)} answers with {judge_model} ({len(unique)} configuration(s))", progress)
    start = time.perf_counter()
    with open_judge(for_judge(settings, collection, judge_model)) as judge:
        clock.add("startup", time.perf_counter() - start)
        for jkey, item, r, answer in _progress(todo, f"judge {judge_model}", progress):
            contexts = [CitedSource(c["n"], c["title"], c["source"], c["text"]) for c in answer.get("contexts", [])]
            start = time.perf_counter()
            outcomes = judge_all(judge, item.question, answer["answer"], contexts, item.reference, suite.criteria)
            clock.add("judge", time.perf_counter() - start)
            cache.put("verdicts", jkey, item, r, {c: o.to_dict() for c, o in outcomes.items()})
        start = time.perf_counter()
    clock.add("startup", time.perf_counter() - start)


def _needs_answer(cached: dict[str, Any] | None) -> bool:
    """Not asked yet, or asked and timed out (a timeout is retried when the run resumes)."""
    return cached is None or bool(cached.get("timed_out"))


def unjudged_verdicts(item: Item, reason: str, criteria: list[str]) -> dict[str, Any]:
    """Verdicts without a judge call: a non-answer to an answerable item is not correct; the other criteria do
    not apply to it (nor any criterion to an unanswerable item, which abstention accuracy scores)."""
    out: dict[str, Any] = {}
    for c in criteria:
        if c == "correctness" and item.answerable:
            out[c] = {"criterion": c, "passed": False, "rationale": f"not an answer ({reason})", "reason": None}
        else:
            out[c] = {"criterion": c, "passed": None, "rationale": "", "reason": reason}
        out[c]["seconds"] = 0.0
    return out


def load_labels(path: Path) -> dict[str, dict[str, bool]]:
    """Human labels for a subset of items, one JSON object a line: {"id": ..., "config": optional, "correctness":
    true, ...}; keyed "CONFIG/ID" when the label is of one configuration's answer, else "ID"."""
    if not path.is_file():
        raise EvalError(f"Labels file {path} not found (named by the suite's judge.labels).")
    labels: dict[str, dict[str, bool]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            key = f"{raw['config']}/{raw['id']}" if raw.get("config") else str(raw["id"])
            labels[key] = {k: bool(v) for k, v in raw.items() if isinstance(v, bool)}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise EvalError(f'{path}:{number}: expected {{"id": ..., "correctness": true, ...}} ({exc}).') from exc
    return labels


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / RECORDS
    if not path.is_file():
        raise EvalError(f"{run_dir} holds no {RECORDS}: pass a directory written by `ragloop eval run`.")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / SUMMARY
    if not path.is_file():
        raise EvalError(f"{run_dir} holds no {SUMMARY}: pass a directory written by `ragloop eval run`.")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
