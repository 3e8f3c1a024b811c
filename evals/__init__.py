"""The evaluation harness: suites, answer metrics, the judge and its bias controls, reports, compare.

suite.py        suite YAML (dataset, corpus/collection, matrix of configurations, metrics, seed) or a BEIR dir
dataset.py      JSONL items (package data: data/demo/questions.jsonl) and the key-fact / gold-source matchers
compose.py      the only bridge to the composition root (settings per configuration, runtime, agent, judge)
answering.py    one item through one configuration's agent: answer, cited contexts, ranking, timings
judge.py        faithfulness / relevance (the agent's judge call) and correctness, pairwise A/B; unmeasured
answer_metrics.py, scoring.py, summary.py, stats.py   metrics per item, per configuration, intervals
runner.py, cache.py, beir_suite.py   `ragloop eval run` (resumable), report.py (Markdown, HTML), compare.py
calibration.py, bias.py, calibrate_run.py   `ragloop eval calibrate` against the human-labelled set
"""
