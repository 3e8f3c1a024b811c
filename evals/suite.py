"""Evaluation suites: a YAML file naming a dataset, a corpus or collection, a matrix of configurations, metrics
and a seed. A BEIR directory given instead of a YAML file is a retrieval-only suite.

    name: demo
    dataset: questions.jsonl          # relative to the suite file
    corpus: demo                      # "demo" (the bundled corpus) or a path, ingested into `collection`
    collection: eval-demo
    seed: 13
    judge: {criteria: [faithfulness, relevance, correctness]}
    defaults: {search_mode: hybrid, k: 5, context_tokens: 1500}
    matrix:
      - {name: dense, search_mode: dense, reflect: false}
      - {name: hybrid, reflect: false}
      - {name: hybrid+reflect}

Each matrix row overrides `defaults`. A configuration's answers are cached by a hash of what changes an
answer (pipeline, search mode, rerank, reflection, chat model, context budget, k, collection); its verdicts
by that hash plus the judge model, so configurations that differ only by judge share their answers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evals.errors import EvalError
from evals.judge import CRITERIA


class Configuration(BaseModel):
    """One cell of the matrix."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    pipeline: Literal["full", "plain"] = Field("full", description="full agent graph, or plain retrieve-and-answer")
    search_mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    rerank: bool = False
    rerank_model: str = "ragloop-reranker"
    reflect: bool = True
    chat_model: str | None = None  # None: the settings' model
    judge_model: str | None = None  # the evaluation judge; None: the chat model
    context_tokens: int | None = Field(None, ge=100)
    k: int = Field(5, ge=1)

    def answer_key(self, collection: str, chat_model: str) -> str:
        fields = self.model_dump(exclude={"name", "judge_model"})
        fields.update(chat_model=chat_model, collection=collection)
        if not self.rerank:
            fields.pop("rerank_model")
        return _digest(fields)

    def judge_key(self, collection: str, chat_model: str, judge_model: str, criteria: list[str]) -> str:
        return _digest(
            {"answers": self.answer_key(collection, chat_model), "judge": judge_model, "criteria": sorted(criteria)}
        )


class JudgeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    criteria: list[str] = Field(default_factory=lambda: list(CRITERIA))
    labels: str | None = None  # JSONL of human labels for a subset of items: {id, faithfulness, ...}


class SuiteFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    dataset: str | None = None
    beir: str | None = None
    corpus: str | None = None
    collection: str | None = None
    seed: int = 0
    repeats: int = Field(1, ge=1)
    metrics: list[str] | None = None
    judge: JudgeSpec = Field(default_factory=JudgeSpec)
    defaults: dict[str, Any] = Field(default_factory=dict)
    matrix: list[dict[str, Any]] = Field(default_factory=lambda: [dict[str, Any]()])


class Suite(BaseModel):
    """A loaded suite: paths resolved, configurations expanded."""

    name: str
    description: str
    path: Path
    dataset: Path | None
    beir: Path | None
    corpus: Path | None
    collection: str | None
    seed: int
    repeats: int
    metrics: list[str] | None
    criteria: list[str]
    labels: Path | None
    configurations: list[Configuration]

    @property
    def retrieval_only(self) -> bool:
        return self.beir is not None


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def config_name(config: Configuration) -> str:
    parts = [config.pipeline if config.pipeline == "plain" else "", config.search_mode]
    parts += ["rerank" if config.rerank else "", "reflect" if config.reflect else ""]
    return "+".join(p for p in parts if p)


def load_suite(path: Path) -> Suite:
    """A suite from a YAML file, or a retrieval-only suite from a BEIR directory."""
    path = Path(path)
    if path.is_dir():
        if not (path / "corpus.jsonl").is_file():
            raise EvalError(f"{path} is a directory without corpus.jsonl: pass a suite YAML file or a BEIR directory.")
        configs = [Configuration(name="dense", search_mode="dense"), Configuration(name="hybrid")]
        return Suite(
            name=path.resolve().name,
            description=f"retrieval-only suite over the BEIR directory {path}",
            path=path,
            dataset=None,
            beir=path.resolve(),
            corpus=None,
            collection=None,
            seed=0,
            repeats=1,
            metrics=None,
            criteria=[],
            labels=None,
            configurations=configs,
        )
    if not path.is_file():
        raise EvalError(f"Suite {path} not found. Pass a suite YAML file (see evals/suite.py) or a BEIR directory.")
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EvalError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise EvalError(f"{path}: a suite is a YAML mapping with name, dataset, matrix (see evals/suite.py).")
    try:
        spec = SuiteFile.model_validate(raw)
    except ValidationError as exc:
        raise EvalError(f"{path}: {_problems(exc)}") from exc
    if (spec.dataset is None) == (spec.beir is None):
        raise EvalError(f"{path}: name exactly one of `dataset` (JSONL) or `beir` (a BEIR directory).")
    unknown = sorted(set(spec.judge.criteria) - set(CRITERIA))
    if unknown:
        raise EvalError(f"{path}: unknown judge criteria {unknown}; choose from {list(CRITERIA)}.")
    base = path.resolve().parent
    configs = []
    for number, row in enumerate(spec.matrix or [{}], start=1):
        try:
            config = Configuration.model_validate({**spec.defaults, **row})
        except ValidationError as exc:
            raise EvalError(f"{path}: matrix row {number}: {_problems(exc)}") from exc
        config.name = config.name or config_name(config)
        configs.append(config)
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise EvalError(f"{path}: configuration names repeat ({names}); give each matrix row a distinct name.")
    corpus: Path | None = None
    if spec.corpus == "demo":
        from retrieval.ingest import DEMO_CORPUS

        corpus = DEMO_CORPUS
    elif spec.corpus:
        corpus = (base / spec.corpus).resolve()
        if not corpus.exists():
            raise EvalError(f"{path}: corpus {corpus} does not exist.")
    return Suite(
        name=spec.name,
        description=spec.description,
        path=path.resolve(),
        dataset=(base / spec.dataset).resolve() if spec.dataset else None,
        beir=(base / spec.beir).resolve() if spec.beir else None,
        corpus=corpus,
        collection=spec.collection,
        seed=spec.seed,
        repeats=spec.repeats,
        metrics=spec.metrics,
        criteria=list(spec.judge.criteria),
        labels=(base / spec.judge.labels).resolve() if spec.judge.labels else None,
        configurations=configs,
    )


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'suite'}: {e['msg']}" for e in exc.errors())
