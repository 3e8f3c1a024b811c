"""Reports of a run: `report.md` and a self-contained `report.html` (charts as embedded PNG, no network).

Check the HTML in a real browser (headless Chromium from Debian: `apt-get install -y chromium`):

    chromium --headless --no-sandbox --disable-gpu --window-size=1200,2400 \
        --screenshot=/tmp/report.png file://$PWD/RUN_DIR/report.html
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from evals.summary import AGENT_METRICS

NONE = "–"


def fmt(value: float | None, digits: int = 3) -> str:
    return NONE if value is None else f"{value:.{digits}f}"


def metric_cell(stats: dict[str, Any]) -> str:
    text = fmt(stats["mean"])
    if stats["mean"] is not None and stats["low"] is not None and stats["measured"] > 1:
        text += f" [{fmt(stats['low'], 2)}, {fmt(stats['high'], 2)}]"
    if stats["unmeasured"]:
        text += f" (unmeasured {100 * (stats['unmeasured_rate'] or 0):.0f}%)"
    return text


def metrics_table(summary: dict[str, Any], quality: bool = True) -> tuple[list[str], list[list[str]]]:
    configs = list(summary["configs"])
    names: list[str] = []
    for name in configs:
        for metric in summary["configs"][name]["metrics"]:
            if metric not in names and ((metric not in AGENT_METRICS) == quality):
                names.append(metric)
    rows = []
    for metric in names:
        row = [metric]
        for name in configs:
            stats = summary["configs"][name]["metrics"].get(metric)
            row.append(metric_cell(stats) if stats else NONE)
        rows.append(row)
    return ["metric", *configs], rows


def timing_lines(summary: dict[str, Any]) -> list[str]:
    timing = summary.get("timing", {})
    if not timing:
        return []
    share = timing.get("harness_overhead_share")
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in timing.get("model_and_retrieval_seconds", {}).items())
    return [
        f"Wall time {timing['wall_seconds']:.1f} s; models and retrieval: {parts or 'none (all cached)'}.",
        f"Harness overhead (everything else): {timing['harness_overhead_seconds']:.1f} s"
        + (f", {100 * share:.1f}% of the run." if share is not None else "."),
    ]


def markdown(summary: dict[str, Any]) -> str:
    lines = [f"# Evaluation run: {summary['suite']}", ""]
    if summary.get("description"):
        lines += [summary["description"], ""]
    lines += [
        f"{summary['items']} items × {summary['repeats']} repeat(s), seed {summary['seed']}, "
        f"collection `{summary['collection']}`"
        + (f", first {summary['limit']} items only" if summary.get("limit") else "")
        + ".",
        "",
        "Cells: mean [bootstrap 95% interval] over items; the unmeasured rate is shown where any item could not be "
        "measured (judge output that did not parse, empty context, no reference...). Unmeasured items are never 0.",
        "",
        "## Configurations",
        "",
        "| name | pipeline | search | rerank | reflect | chat model | judge model | context | k |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in summary["configurations"]:
        lines.append(
            f"| {c['name']} | {c['pipeline']} | {c['search_mode']} | {c['rerank']} | {c['reflect']} | "
            f"{c['chat_model']} | {c['judge_model']} | {c['context_tokens'] or 'default'} | {c['k']} |"
        )
    for title, quality in (("Quality", True), ("Agent", False)):
        header, rows = metrics_table(summary, quality)
        lines += ["", f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "## Latency (mean seconds per item)", ""]
    parts = ["prompt", "generation", "retrieval", "judge", "other", "eval_judge"]
    lines += ["| config | p50 | p95 | " + " | ".join(parts) + " |", "|" + "---|" * (3 + len(parts))]
    for name, config in summary["configs"].items():
        lat = config["latency"]
        split = lat["mean_split"]
        lines.append(
            f"| {name} | {fmt(lat['p50_seconds'], 1)} | {fmt(lat['p95_seconds'], 1)} | "
            + " | ".join(fmt(split.get(p), 2) for p in parts)
            + " |"
        )
    corrected = {n: c["corrected"] for n, c in summary["configs"].items() if c.get("corrected")}
    if corrected:
        lines += ["", "## Prediction-powered estimates (judge corrected by the human-labelled subset)", ""]
        lines += ["| config | criterion | estimate [95% CI] | labelled / judged |", "|---|---|---|---|"]
        for name, by_criterion in corrected.items():
            for criterion, est in by_criterion.items():
                lines.append(
                    f"| {name} | {criterion} | {fmt(est['estimate'])} [{fmt(est['low'], 2)}, {fmt(est['high'], 2)}] "
                    f"| {est['labelled']} / {est['judged']} |"
                )
    preference = summary.get("self_preference") or []
    if preference:
        lines += ["", "## Self-preference (same answers, judged by their own model vs another)", ""]
        lines += ["| self judge | other judge | criterion | n | self - other [95% CI] |", "|---|---|---|---|---|"]
        for row in preference:
            for criterion, d in row["criteria"].items():
                lines.append(
                    f"| {row['self_judge']} | {row['other_judge']} | {criterion} | {d['n']} | "
                    f"{fmt(d['delta'])} [{fmt(d['low'], 2)}, {fmt(d['high'], 2)}]{' *' if d['significant'] else ''} |"
                )
    reasons = _unmeasured_reasons(summary)
    if reasons:
        lines += ["", "## Unmeasured, by reason", ""]
        lines += [f"- {name} · {metric}: {why}" for name, metric, why in reasons]
    timing = timing_lines(summary)
    if timing:
        lines += ["", "## Run time", "", *timing]
    return "\n".join(lines) + "\n"


def _unmeasured_reasons(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for name, config in summary["configs"].items():
        for metric, stats in config["metrics"].items():
            if stats["unmeasured"]:
                why = ", ".join(f"{reason} ({count})" for reason, count in stats["unmeasured_reasons"].items())
                out.append((name, metric, why))
    return out


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def charts(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, base64 PNG): quality metrics with intervals per configuration, and the latency split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = list(summary["configs"])
    out: list[tuple[str, str]] = []
    metrics = [
        m
        for m in (
            "recall@k",
            "token_f1",
            "key_fact_accuracy",
            "citation_precision",
            "abstention_accuracy",
            "faithfulness",
            "relevance",
            "correctness",
        )
        if any(summary["configs"][c]["metrics"].get(m, {}).get("mean") is not None for c in configs)
    ]
    if metrics:
        fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(metrics)), 3.6))
        width = 0.8 / max(len(configs), 1)
        for index, name in enumerate(configs):
            means, lows, highs = [], [], []
            for m in metrics:
                stats = summary["configs"][name]["metrics"].get(m, {})
                mean = stats.get("mean")
                means.append(mean if mean is not None else 0.0)
                low, high = stats.get("low"), stats.get("high")
                lows.append(mean - low if mean is not None and low is not None else 0.0)
                highs.append(high - mean if mean is not None and high is not None else 0.0)
            xs = [i + index * width for i in range(len(metrics))]
            ax.bar(xs, means, width, yerr=[lows, highs], capsize=3, label=name)
        ax.set_xticks([i + width * (len(configs) - 1) / 2 for i in range(len(metrics))])
        ax.set_xticklabels(metrics, rotation=20, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("mean (95% CI)")
        ax.legend(fontsize=8)
        out.append(("Quality per configuration (bars: 95% bootstrap intervals; unmeasured items excluded)", _png(fig)))
        plt.close(fig)
    parts = ["prompt", "generation", "retrieval", "judge", "other", "eval_judge"]
    fig, ax = plt.subplots(figsize=(7.0, 0.6 * len(configs) + 1.5))
    left = [0.0] * len(configs)
    for part in parts:
        values = [summary["configs"][c]["latency"]["mean_split"].get(part) or 0.0 for c in configs]
        ax.barh(configs, values, left=left, label=part)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("mean seconds per item")
    ax.legend(fontsize=8, ncol=3)
    out.append(("Latency split per configuration", _png(fig)))
    plt.close(fig)
    return out


def html_report(summary: dict[str, Any], calibration: dict[str, Any] | None = None) -> str:
    """The Markdown report's content as one self-contained HTML page with the charts embedded."""
    body = [f"<h1>Evaluation run: {html.escape(summary['suite'])}</h1>"]
    if summary.get("description"):
        body.append(f"<p>{html.escape(summary['description'])}</p>")
    body.append(
        f"<p>{summary['items']} items × {summary['repeats']} repeat(s), seed {summary['seed']}. Cells: mean "
        "[bootstrap 95% interval]; the unmeasured rate where any item could not be measured.</p>"
    )
    for title, quality in (("Quality", True), ("Agent", False)):
        header, rows = metrics_table(summary, quality)
        body.append(f"<h2>{title}</h2>" + _table(header, rows))
    for title, png in charts(summary):
        body.append(f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="data:image/png;base64,{png}">')
    if calibration:
        body.append("<h2>Judge calibration</h2>" + calibration_html(calibration))
    timing = timing_lines(summary)
    if timing:
        body.append("<h2>Run time</h2>" + "".join(f"<p>{html.escape(t)}</p>" for t in timing))
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}"
        "th{background:#f3f3f3}img{max-width:100%}"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>ragloop eval: {html.escape(summary['suite'])}</title><style>{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def calibration_html(calibration: dict[str, Any]) -> str:
    header = ["judge", "criterion", "kappa [95% CI]", "agreement", "tp", "tn", "fp", "fn", "unmeasured"]
    rows = []
    for row in calibration.get("rows", []):
        k = row["kappa"]
        c = row["confusion"]
        rows.append(
            [
                row["judge_model"],
                row["criterion"],
                f"{fmt(k['estimate'])} [{fmt(k['low'], 2)}, {fmt(k['high'], 2)}]",
                fmt(row["agreement"]),
                str(c["tp"]),
                str(c["tn"]),
                str(c["fp"]),
                str(c["fn"]),
                str(row["unmeasured"]),
            ]
        )
    return _table(header, rows)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_reports(out: Path, summary: dict[str, Any], records: list[dict[str, Any]]) -> None:
    (out / "report.md").write_text(markdown(summary), encoding="utf-8")
    (out / "report.html").write_text(html_report(summary), encoding="utf-8")
