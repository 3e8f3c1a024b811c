"""`ragloop eval run | compare | calibrate | context`: the evaluation harness (evals/) on the command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.app import eval_app
from agent.cli.common import print_json
from agent.cli.options import JsonOpt, with_settings
from agent.settings import Settings


def parse_gates(values: list[str]) -> dict[str, float]:
    gates = {}
    for value in values:
        metric, sep, number = value.partition("=")
        try:
            if not sep or not metric.strip():
                raise ValueError
            gates[metric.strip()] = float(number)
        except ValueError:
            raise typer.BadParameter(
                f"{value!r}: use METRIC=VALUE, e.g. key_fact_accuracy=0.6", param_hint="--fail-under"
            ) from None
    return gates


@eval_app.command("run")
@with_settings("models", "retrieval", "evals", exclude=("collection", "rerank_model"))
def eval_run(
    settings: Settings,
    suite_path: Annotated[
        Path, typer.Argument(metavar="SUITE", help="Suite YAML file, or a BEIR directory (retrieval only).")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run directory; an existing one is resumed (default: HOME/runs/NAME-TIME)."),
    ] = None,
    repeats: Annotated[int | None, typer.Option("--repeats", min=1, help="Answer each item N times.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Only the first N items.")] = None,
    fail_under: Annotated[
        list[str] | None,
        typer.Option("--fail-under", help="METRIC=VALUE gate (repeatable): exit 1 when any configuration is below it."),
    ] = None,
    report_only: Annotated[
        bool,
        typer.Option("--report-only", help="Ask and judge nothing: report what the run directory holds so far."),
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Run a suite through its matrix of configurations: per-item records, summary.json, report.md and
    report.html in the run directory. Interrupted runs resume: finished items are never redone."""
    from evals.errors import EvalError
    from evals.runner import run_suite
    from evals.suite import load_suite
    from evals.summary import fail_under as check_gates

    gates = parse_gates(fail_under or [])
    suite = load_suite(suite_path)
    runs = settings.evals.runs_dir or settings.home / "runs"
    out = out or runs / f"{suite.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    typer.echo(f"run directory: {out}", err=True)
    if report_only and not (out / "cache").is_dir():
        raise EvalError(f"{out} holds no cache to report on; pass the --out of an earlier run.")
    summary = run_suite(suite, out, settings, repeats=repeats, limit=limit, progress=True, report_only=report_only)
    if json_output:
        print_json(summary)
    else:
        typer.echo((out / "report.md").read_text(encoding="utf-8"))
    reasons = check_gates(summary, gates)
    if reasons:
        for reason in reasons:
            typer.secho(f"fail-under: {reason}", err=True, fg=typer.colors.RED)
        sys.exit(1)


@eval_app.command("compare")
def eval_compare(
    run_a: Annotated[str, typer.Argument(help="Run directory A (RUN or RUN:CONFIG).")],
    run_b: Annotated[str, typer.Argument(help="Run directory B (RUN or RUN:CONFIG).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the paired bootstrap.")] = 0,
    json_output: JsonOpt = False,
) -> None:
    """Per-metric deltas B - A over the items both runs measured, with paired bootstrap 95% intervals;
    significant changes are marked."""
    from evals.compare import compare_runs, table

    result = compare_runs(run_a, run_b, seed=seed)
    if json_output:
        typer.echo(json.dumps(result, indent=2, allow_nan=False))
    else:
        typer.echo(table(result))


@eval_app.command("calibrate")
@with_settings("models", exclude=("judge_model",))
def eval_calibrate(
    settings: Settings,
    judges: Annotated[
        str | None,
        typer.Option("--judges", help="Comma-separated judge models to calibrate (default: the chat model)."),
    ] = None,
    items_path: Annotated[
        Path | None, typer.Option("--items", help="Labelled items (default: the bundled calibration set).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Only the first N items.")] = None,
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help="Also measure the judge's biases.")] = True,
    bias_limit: Annotated[
        int, typer.Option("--bias-limit", min=1, help="Items (or pairs) per bias probe, to bound the run time.")
    ] = 8,
    repeats: Annotated[int, typer.Option("--repeats", min=2, help="Self-consistency: judgements per item.")] = 3,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory for calibration.json/.md; resumable (cache).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the kappa bootstrap.")] = 0,
    json_output: JsonOpt = False,
) -> None:
    """Agreement of the judge with the human-labelled calibration set (Cohen's kappa with a bootstrap 95%
    interval, confusion counts, per criterion), and its position, verbosity and self-consistency biases."""
    from evals.calibrate_run import run_calibration
    from evals.calibration import CALIBRATION_ITEMS, load_calibration

    items = load_calibration(items_path or CALIBRATION_ITEMS)[:limit]
    models = [m.strip() for m in (judges or settings.models.model).split(",") if m.strip()]
    out = out or settings.home / "runs" / f"calibration-{time.strftime('%Y%m%d-%H%M%S')}"
    typer.echo(f"calibration directory: {out}", err=True)
    result = run_calibration(settings, items, models, out, bias=bias, bias_limit=bias_limit, repeats=repeats, seed=seed)
    if json_output:
        typer.echo(json.dumps(result, indent=2, allow_nan=False))
    else:
        typer.echo((out / "calibration.md").read_text(encoding="utf-8"))


@eval_app.command("context")
@with_settings("retrieval")
def eval_context(
    settings: Settings,
    questions_path: Annotated[
        Path, typer.Option("--questions", help="Question set (JSONL with key_facts and gold_sources, as bench agent).")
    ],
    configs: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            help="Agent overrides KEY=VALUE[,KEY=VALUE] for one column (repeatable), e.g. k=5,source_tokens=150; "
            "default: the settings' agent configuration alone.",
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Context recall without a model: for each configuration, how many answerable questions get every key fact
    (and a gold page) into the answer prompt's sources, and how many tokens those sources take. Routing,
    rewriting, model grading and reflection are off; tokens are estimated (4 characters each)."""
    from tqdm import tqdm

    from agent.bench import load_questions
    from agent.chat_client import EstimatedTokens
    from agent.cli.wiring import open_runtime
    from evals.context_recall import measure, parse_overrides, summarize

    columns = configs or [""]
    try:
        overrides = {column: settings.agent.replace(**parse_overrides(column)) for column in columns}
    except ValueError as exc:  # a bad KEY=VALUE or a value AgentConfig refuses (pydantic errors are ValueErrors)
        raise typer.BadParameter(str(exc).splitlines()[0], param_hint="--config") from None
    questions = load_questions(questions_path)
    answerable = sum(q.answerable for q in questions)
    results = {}
    with open_runtime(settings) as rt:
        searcher = rt.searcher()
        for column, config in overrides.items():
            with tqdm(total=answerable, desc=column or "settings", file=sys.stderr, disable=json_output) as bar:
                rows = measure(questions, searcher, config, EstimatedTokens(), on_question=lambda _: bar.update())
            results[column or "settings"] = summarize(rows)
    if json_output:
        print_json({"collection": settings.retrieval.collection, "questions": str(questions_path), "configs": results})
        return
    width = max(len("configuration"), *(len(c) for c in results))
    typer.echo(f"{'configuration':<{width}} {'facts in context':>17} {'gold page':>10} {'sources':>8} {'tokens':>7}")
    for column, summary in results.items():
        n = summary["questions"]
        typer.echo(
            f"{column:<{width}} {summary['facts_in_context']:>11}/{n:<5} {summary['gold_in_context']:>5}/{n:<4}"
            f" {summary['mean_sources']:>8} {summary['mean_context_tokens']:>7}"
        )
    for column, summary in results.items():
        if summary["missed"]:
            typer.echo(f"missed ({column}): {' '.join(summary['missed'])}")
