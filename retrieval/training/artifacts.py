"""What a training run leaves in its output directory, besides the weights.

OUT/model.safetensors, config.json, tokenizer files   the torch fp32 CrossEncoder (`--rerank-model OUT`)
OUT/onnx/model.onnx, onnx/model_quint8_avx2.onnx      ONNX fp32 and dynamically quantized int8
OUT/SHA256SUMS                                        digests of the files above (`shipped.verify_model_dir`)
OUT/training_report.json                              sizes, counts, minutes per stage, dev metrics
OUT/model_card.md                                     data, recipe, the exact command, metrics
OUT/eval/<dataset>.json                               results of `ragloop reranker eval` (shown in the card)
OUT/training-data/questions.jsonl, examples.jsonl     every generated question (kept or why not), the pairs
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from retrieval.errors import RetrievalError

REPORT = "training_report.json"
CARD = "model_card.md"
EVAL_DIR = "eval"
DATA_DIR = "training-data"


def prepare_out_dir(out_dir: Path) -> Path:
    """Create `out_dir` (or accept an empty one) and check it is writable, before any heavy work."""
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise RetrievalError(f"--out {out_dir} is a file; pass a new or empty directory.")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise RetrievalError(
            f"--out {out_dir} is not empty; pass a new or empty directory (a run never overwrites a model)."
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise RetrievalError(
            f"--out {out_dir} is not writable ({exc.strerror or exc}); choose a directory you can write to."
        ) from exc
    return out_dir


def export_onnx_into(model_dir: Path) -> list[str]:
    """ONNX fp32 and int8 exports of the torch model in `model_dir`, placed in `model_dir/onnx/`."""
    from retrieval.onnx_export import export_onnx

    scratch = model_dir / ".onnx-export"
    try:
        export_onnx(model_dir, scratch, kind="reranker", int8=True)
        (model_dir / "onnx").mkdir(exist_ok=True)
        placed = []
        for path in sorted((scratch / "onnx").glob("*.onnx")):
            os.replace(path, model_dir / "onnx" / path.name)
            placed.append(f"onnx/{path.name}")
        return placed
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def eval_results(model_dir: Path) -> list[dict[str, Any]]:
    results = [read_json(path) for path in sorted((model_dir / EVAL_DIR).glob("*.json"))]
    return [r for r in results if isinstance(r, dict)]


def _metrics_section(results: list[dict[str, Any]]) -> list[str]:
    if not results:
        return ["Not measured yet: run `ragloop reranker eval MODEL_DIR --dataset BEIR_DIR` (it fills this in)."]
    lines: list[str] = []
    for result in results:
        lines += [f"### {result.get('dataset', '?')}", "", f"`{result.get('command', '')}`", ""]
        lines += ["| system | nDCG@10 | Recall@5 |", "|---|---|---|"]
        for row in result.get("rows", []):
            lines.append(f"| {row['system']} | {row['ndcg@10']:.4f} | {row['recall@5']:.4f} |")
        latency = result.get("rerank_latency_ms") or {}
        if latency:
            parts = ", ".join(f"{name} {value:.0f} ms" for name, value in latency.items())
            lines += ["", f"Rerank latency for {result.get('candidates', 30)} candidates (p50): {parts}."]
        lines.append("")
    return lines


def render_model_card(model_dir: Path) -> str:
    """The card from `training_report.json` and the evaluation results in `eval/`."""
    report = read_json(model_dir / REPORT) or {}
    options = report.get("options", {})
    counts = report.get("counts", {})
    training = report.get("training", {})
    minutes = report.get("minutes", {})
    lines = [
        "# ragloop cross-encoder reranker",
        "",
        "A sentence-transformers `CrossEncoder` with one output (higher = more relevant), fine-tuned from "
        f"`{report.get('base_model', 'all-MiniLM-L6-v2')}` by ragloop's own recipe (`retrieval/training/`).",
        "",
        "## Use",
        "",
        "`ragloop search QUERY --rerank-model MODEL_DIR` (the int8 export by default; `--rerank-backend torch` for "
        "the torch weights), or load `onnx/model_quint8_avx2.onnx` with sentence-transformers' ONNX backend. "
        "The copy ragloop ships in `retrieval/data/reranker` is `--rerank-model ragloop-reranker`, fused with the "
        "hybrid order at `--rerank-weight 0.3` unless told otherwise. `SHA256SUMS` lists the digest of every "
        "model file.",
        "",
        "## Training data",
        "",
        f"- sources: {', '.join(report.get('sources', [])) or '?'}; held out: git documentation (git-doc)",
        f"- passages: {counts.get('passages', '?')} from {counts.get('documents', '?')} documents",
        f"- synthetic questions by `{report.get('question_model', '?')}`: {counts.get('questions_asked', '?')} "
        f"asked, {counts.get('questions_kept', '?')} kept (keep rate {counts.get('keep_rate', '?')})",
        f"- weak pairs: {counts.get('weak_pairs', '?')} (heading -> section, FAQ question -> answer)",
        f"- hard negatives per positive: {options.get('negatives', '?')} (BM25 + bi-encoder, other documents)",
        f"- train / dev by document: {counts.get('train_pairs', '?')} train pairs, "
        f"{counts.get('dev_queries', '?')} dev queries",
        "",
        "## Recipe",
        "",
        f"Loss {options.get('loss', 'bce')} over groups of a query, its positive and its hard negatives; "
        f"{options.get('epochs', '?')} epoch(s), {options.get('batch_size', '?')} groups per step, "
        f"max length {options.get('max_length', '?')}, learning rate {options.get('learning_rate', '?')} "
        f"(head {options.get('head_learning_rate', '?')}), "
        f"seed {report.get('seed', '?')}; {training.get('steps', '?')} steps at "
        f"{training.get('pairs_per_second', '?')} pairs/s; {report.get('total_minutes', '?')} minutes in all "
        f"({', '.join(f'{k} {v}' for k, v in minutes.items())}).",
        "",
        "Exact command:",
        "",
        f"    {report.get('command', '?')}",
        "",
        "## Metrics",
        "",
        f"Dev (documents held out of training): {json.dumps(report.get('dev', {}))}",
        "",
        *_metrics_section(eval_results(model_dir)),
    ]
    return "\n".join(lines).rstrip() + "\n"


def write_model_card(model_dir: Path) -> Path:
    path = model_dir / CARD
    path.write_text(render_model_card(model_dir), encoding="utf-8")
    return path
