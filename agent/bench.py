"""`ragloop bench agent`: the plain "retrieve top 5 and answer" baseline against the full graph, in one run.

Both configurations answer every question of a question set (JSONL, one object a line):

    {"id": "a01", "question": "...", "answerable": true, "gold_sources": ["hybrid-search.md"],
     "key_facts": ["60", ["SIGIR", "SIGIR 2009"]]}

- `key_facts`: each item must appear in the answer (case-insensitive); a list item is a set of acceptable
  alternatives. `gold_sources`: file names (or `file.jsonl#record-id`) of the documents that hold the answer.
- Unanswerable questions (`answerable: false`) are off the corpus: the right behaviour is to abstain.

Metrics per configuration: key-fact accuracy (all facts present) and the share of facts found; citation
precision (cited chunks that come from a gold source); groundedness by one post-hoc judge call per
answer with the same judge for both configurations (the in-loop reflection verdicts are kept in the
records too); abstention on the unanswerable questions (and wrongful abstention on the answerable ones);
p50/p95 seconds per question and the time split between prompt processing, generation, retrieval and the
in-loop judge. The two configurations alternate question by question, so a partial run compares them on
the same questions and both see the same machine load.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.chat_client import ChatModel
from agent.errors import AgentError, ChatBackendError, ModelOutputError
from agent.judge import CitedSource
from agent.judge import judge as judge_call
from agent.run import Agent, AgentAnswer, Citation
from evals.dataset import DEMO_QUESTIONS, fact_found, from_gold_source

DEFAULT_QUESTIONS = DEMO_QUESTIONS  # package data of the evaluation harness (an installed wheel has it)
TIME_PARTS = ("prompt", "generation", "retrieval", "judge")


# -- the question set ------------------------------------------------------------------------------


@dataclass
class Question:
    id: str
    question: str
    answerable: bool
    gold_sources: list[str] = field(default_factory=list)
    key_facts: list[list[str]] = field(default_factory=list)  # each: acceptable alternatives


def load_questions(path: Path) -> list[Question]:
    """The question set at `path`; a malformed line is an error naming the line (no silent skipping)."""
    if not path.is_file():
        raise AgentError(f"Question set {path} not found. Pass --questions PATH (JSONL, see `agent/bench.py`).")
    questions: list[Question] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            facts = [[f] if isinstance(f, str) else [str(a) for a in f] for f in raw.get("key_facts", [])]
            question = Question(
                id=str(raw["id"]),
                question=str(raw["question"]),
                answerable=bool(raw.get("answerable", True)),
                gold_sources=[str(s) for s in raw.get("gold_sources", [])],
                key_facts=facts,
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise AgentError(f"{path}:{number}: not a question record ({exc}).") from exc
        if question.answerable and not (question.gold_sources and question.key_facts):
            raise AgentError(f"{path}:{number}: an answerable question needs gold_sources and key_facts.")
        questions.append(question)
    if not questions:
        raise AgentError(f"{path} holds no questions.")
    return questions


# the scoring lives in the evaluation harness (evals/dataset.py); re-exported for the bench and its callers
__all__ = ["fact_found", "from_gold_source"]


# -- one answer ------------------------------------------------------------------------------------


@dataclass
class QuestionResult:
    config: str
    id: str
    question: str
    answerable: bool
    answer: str
    abstained: bool
    failed: bool
    facts_found: int
    facts_total: int
    cited: int  # distinct chunks cited
    cited_gold: int  # of those, from a gold source
    grounded: bool | None  # post-hoc judge; None: abstained (nothing to judge) or the judge's output was unusable
    judge_rationale: str
    in_loop_grounded: bool | None  # the agent's own final groundedness verdict (None: no reflection)
    retries: int
    skipped: list[str]
    seconds: float  # the agent's total time for the question
    timings: dict[str, float]
    tokens: dict[str, int]
    eval_judge_seconds: float  # the post-hoc judge call (not part of `seconds`)
    error: str | None = None  # the agent raised (e.g. the context did not fit): counted as a wrong answer
    route: str = ""
    # what each step did ("reflect: unusable answer (pasted source): regenerate"), to read why an answer
    # failed from the records alone; model errors are appended in brackets
    trace: list[str] = field(default_factory=list)

    @property
    def all_facts(self) -> bool:
        return self.facts_total > 0 and self.facts_found == self.facts_total

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_answer(
    judge: ChatModel, question: str, answer: str, citations: list[Citation], texts: dict[str, str]
) -> tuple[bool | None, str]:
    """Groundedness of `answer` against the full text of the chunks it cites: (pass, rationale)."""
    sources = [CitedSource(c.n, c.title, c.source, texts.get(c.chunk_id, c.quote)) for c in citations]
    try:
        verdict = judge_call(judge, question, answer, sources)
    except ModelOutputError as exc:
        return None, f"unusable judge output: {exc}"
    return verdict.groundedness_pass, verdict.groundedness_rationale


def score_answer(
    config: str,
    q: Question,
    answer: AgentAnswer,
    judge: ChatModel | None,
    chunk_texts: Callable[[list[str]], dict[str, str]],
) -> QuestionResult:
    cited = {c.chunk_id: c for c in answer.citations}
    gold = sum(1 for c in cited.values() if from_gold_source(c.source, q.gold_sources))
    facts = sum(1 for alternatives in q.key_facts if fact_found(answer.answer, alternatives))
    grounded: bool | None = None
    rationale = ""
    start = time.perf_counter()
    if judge is not None and not answer.abstained and not answer.failed and answer.answer.strip():
        grounded, rationale = judge_answer(judge, q.question, answer.answer, answer.citations, chunk_texts(list(cited)))
    judged = time.perf_counter() - start
    final = [v for v in answer.verdicts if v.criterion == "groundedness"]
    return QuestionResult(
        config=config,
        id=q.id,
        question=q.question,
        answerable=q.answerable,
        answer=answer.answer,
        abstained=answer.abstained,
        failed=answer.failed,
        facts_found=facts,
        facts_total=len(q.key_facts),
        cited=len(cited),
        cited_gold=gold,
        grounded=grounded,
        judge_rationale=rationale,
        in_loop_grounded=final[-1].passed if final else None,
        retries=answer.retries,
        skipped=[s["step"] for s in answer.skipped],
        seconds=answer.timings.get("total", 0.0),
        timings={k: round(v, 3) for k, v in answer.timings.items()},
        tokens=dict(answer.tokens),
        eval_judge_seconds=round(judged, 3),
        route=answer.route,
        trace=[
            f"{s.node} ({s.seconds:.1f}s, {s.prompt_tokens}+{s.completion_tokens} tok): {s.summary}"
            + (f" [{s.error}]" if s.error else "")
            for s in answer.steps
        ],
    )


def error_result(config: str, q: Question, exc: Exception, seconds: float) -> QuestionResult:
    return QuestionResult(
        config=config,
        id=q.id,
        question=q.question,
        answerable=q.answerable,
        answer="",
        abstained=False,
        failed=True,
        facts_found=0,
        facts_total=len(q.key_facts),
        cited=0,
        cited_gold=0,
        grounded=None,
        judge_rationale="",
        in_loop_grounded=None,
        retries=0,
        skipped=[],
        seconds=seconds,
        timings={"total": seconds},
        tokens={},
        eval_judge_seconds=0.0,
        error=f"{type(exc).__name__}: {exc}",
    )


# -- the run ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def summarize(results: list[QuestionResult]) -> dict[str, Any]:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    judged = [r for r in answerable if r.grounded is not None]
    cited = sum(r.cited for r in answerable)
    seconds = [r.seconds for r in results]
    split = {part: round(statistics.fmean([r.timings.get(part, 0.0) for r in results]), 3) for part in TIME_PARTS}
    mean_total = statistics.fmean(seconds) if seconds else 0.0
    split["other"] = round(max(mean_total - sum(split.values()), 0.0), 3)
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "key_fact_accuracy": _rate(sum(r.all_facts for r in answerable), len(answerable)),
        "facts_found": _rate(sum(r.facts_found for r in answerable), sum(r.facts_total for r in answerable)),
        "citation_precision": _rate(sum(r.cited_gold for r in answerable), cited),
        "answers_with_citations": _rate(sum(r.cited > 0 for r in answerable), len(answerable)),
        "groundedness_rate": _rate(sum(bool(r.grounded) for r in judged), len(judged)),
        "judged_answers": len(judged),
        "abstention_unanswerable": _rate(sum(r.abstained for r in unanswerable), len(unanswerable)),
        "abstention_answerable": _rate(sum(r.abstained for r in answerable), len(answerable)),
        "failed_marked": sum(r.failed for r in results),
        "errors": sum(r.error is not None for r in results),
        "retries": sum(r.retries for r in results),
        "p50_seconds": round(percentile(seconds, 50), 2),
        "p95_seconds": round(percentile(seconds, 95), 2),
        "mean_seconds": round(mean_total, 2),
        "mean_seconds_split": split,
        "mean_tokens": round(statistics.fmean([r.tokens.get("total", 0) for r in results]), 1) if results else 0.0,
    }


@dataclass
class AgentBenchReport:
    model: str
    judge_model: str
    questions_file: str
    configs: list[str]
    results: list[QuestionResult] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, dict[str, Any]]:
        return {name: summarize([r for r in self.results if r.config == name]) for name in self.configs}

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "judge_model": self.judge_model,
            "questions_file": self.questions_file,
            "seconds": round(self.seconds, 1),
            "summary": self.summary(),
            "results": [r.as_dict() for r in self.results],
        }

    def table(self) -> str:
        summary = self.summary()
        rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
            ("questions (answerable + unanswerable)", lambda s: f"{s['answerable']} + {s['unanswerable']}"),
            ("key-fact accuracy (all facts)", lambda s: _pct(s["key_fact_accuracy"])),
            ("key facts found", lambda s: _pct(s["facts_found"])),
            ("citation precision (gold sources)", lambda s: _pct(s["citation_precision"])),
            ("answers with citations", lambda s: _pct(s["answers_with_citations"])),
            ("judge groundedness rate", lambda s: f"{_pct(s['groundedness_rate'])} of {s['judged_answers']}"),
            ("abstention on unanswerable", lambda s: _pct(s["abstention_unanswerable"])),
            ("abstention on answerable (wrong)", lambda s: _pct(s["abstention_answerable"])),
            ("answers marked failed / errors", lambda s: f"{s['failed_marked']} / {s['errors']}"),
            ("retries (total)", lambda s: str(s["retries"])),
            ("p50 / p95 s per question", lambda s: f"{s['p50_seconds']:.1f} / {s['p95_seconds']:.1f}"),
            *[
                (f"  mean s: {part}", (lambda p: lambda s: f"{s['mean_seconds_split'][p]:.1f}")(part))
                for part in (*TIME_PARTS, "other")
            ],
            ("mean tokens per question", lambda s: f"{s['mean_tokens']:.0f}"),
        ]
        width = max(len(label) for label, _ in rows)
        header = f"{'metric':<{width}}  " + "  ".join(f"{name:>14}" for name in self.configs)
        lines = [
            f"bench agent: {self.model} (judge {self.judge_model}), {self.questions_file}",
            header,
            "-" * len(header),
        ]
        for label, fmt in rows:
            lines.append(f"{label:<{width}}  " + "  ".join(f"{fmt(summary[n]):>14}" for n in self.configs))
        lines.append(f"total time {self.seconds / 60:.1f} min (agent + evaluation judge)")
        return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def read_records(path: Path, questions: list[Question]) -> list[QuestionResult]:
    """The per-question records of a (possibly unfinished) run, key facts re-scored against `questions`."""
    by_id = {q.id: q for q in questions}
    results: list[QuestionResult] = []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):  # a run killed in mid-write: its last record is incomplete, not data
        text = text[: text.rfind("\n") + 1]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            result = QuestionResult(**json.loads(line))
        except (json.JSONDecodeError, TypeError) as exc:
            raise AgentError(f"{path}:{number}: not a bench record ({exc}).") from exc
        q = by_id.get(result.id)
        if q is not None:
            result.facts_found = sum(1 for alternatives in q.key_facts if fact_found(result.answer, alternatives))
        results.append(result)
    return results


def report_from_records(
    path: Path, questions: list[Question], *, model: str = "?", judge_model: str = "?"
) -> AgentBenchReport:
    """The report of a (possibly unfinished) run from its per-question records; key facts are re-scored."""
    if not path.is_file():
        raise AgentError(f"No records file at {path}; `ragloop bench agent` prints where it writes them.")
    results = read_records(path, questions)
    # only questions every configuration answered, so the columns compare the same questions
    configs = list(dict.fromkeys(r.config for r in results))
    done = [{r.id for r in results if r.config == name} for name in configs]
    common = set.intersection(*done) if done else set()
    report = AgentBenchReport(model=model, judge_model=judge_model, questions_file=str(path), configs=configs)
    report.results = [r for r in results if r.id in common]
    report.seconds = sum(r.seconds + r.eval_judge_seconds for r in report.results)  # model time, not wall time
    return report


def run_agent_bench(
    agents: dict[str, Agent],
    questions: list[Question],
    *,
    judge: ChatModel,
    chunk_texts: Callable[[list[str]], dict[str, str]],
    model: str,
    questions_file: str,
    on_result: Callable[[QuestionResult], None] | None = None,
    progress: bool = True,
    done: Sequence[QuestionResult] = (),
    eval_judge: bool = True,
) -> AgentBenchReport:
    """Ask every question of every agent (alternating), score the answers, return the report.

    `done`: results of an interrupted earlier run (its records); those (configuration, question) pairs are
    kept, not asked again. `eval_judge=False` skips the post-hoc groundedness call (faster; `grounded` stays None).
    """
    from tqdm import tqdm

    report = AgentBenchReport(model=model, judge_model=judge.model, questions_file=questions_file, configs=list(agents))
    finished = {(r.config, r.id) for r in done}
    report.results.extend(r for r in done if r.config in agents)
    started = time.perf_counter()
    bar = tqdm(questions, desc="questions", unit="q", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    for q in bar:
        for name, agent in agents.items():
            if (name, q.id) in finished:
                continue
            bar.set_postfix_str(f"{q.id} {name}")
            start = time.perf_counter()
            try:
                answer = agent.ask(q.question)
            except ChatBackendError as exc:  # the prompt did not fit, the model timed out: a wrong answer, not the end
                result = error_result(name, q, exc, time.perf_counter() - start)
            else:
                result = score_answer(name, q, answer, judge if eval_judge else None, chunk_texts)
            report.results.append(result)
            if on_result is not None:
                on_result(result)
    bar.close()
    report.seconds = time.perf_counter() - started
    return report
