"""The evaluation harness (a later issue): suites, answer metrics, the judge and its bias controls, reports.

Until then `ragloop bench agent` (agent/bench.py) compares the plain baseline with the full graph on the
demo question set, and `ragloop eval retrieval` (retrieval/beir.py) scores retrieval on BEIR data.
"""
