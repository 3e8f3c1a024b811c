"""The one wiring path: settings reach the components every surface uses (ask, chat, demo, search, ...)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import ECHO_MODEL, json_out, ragloop

from agent.cli.wiring import Endpoint, model_endpoints, open_runtime, plain_config
from agent.settings import load_settings


def test_endpoints_with_model_url(tmp_path: Path) -> None:
    url = "http://127.0.0.1:1/v1"
    same = load_settings(home=tmp_path, model_url=url, model="m", api_key="k")
    with model_endpoints(same) as (chat, judge):
        assert chat == Endpoint(url, "m", "k") and judge is None  # the judge is the chat model
    other_model = load_settings(home=tmp_path, model_url=url, model="m", api_key="k", judge_model="j")
    with model_endpoints(other_model) as (chat, judge):
        assert judge == Endpoint(url, "j", "k")  # another model on the same endpoint
    elsewhere = load_settings(home=tmp_path, model_url=url, model="m", judge_url="http://j/v1", judge_api_key="jk")
    with model_endpoints(elsewhere) as (chat, judge):
        assert judge == Endpoint("http://j/v1", "m", "jk")


def test_agent_configs_from_settings(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, context_tokens=900, max_retries=1, max_tool_steps=2, budget_seconds=30)
    full = settings.agent
    assert (full.context_tokens, full.max_retries, full.max_tool_steps, full.budget_seconds) == (900, 1, 2, 30)
    assert full.route and full.rewrite and full.llm_grading and full.reflect
    plain = plain_config(settings)
    assert (plain.route, plain.rewrite, plain.llm_grading, plain.reflect) == (False, False, False, False)
    assert (plain.max_retries, plain.k, plain.context_tokens) == (0, 5, 900)


def test_runtime_builds_components_from_settings(demo_home: Path) -> None:
    """What ask, chat, demo, the MCP server and the evaluation share: every setting reaches its component."""
    settings = load_settings(
        home=demo_home,
        collection="demo",
        embed_backend="onnx",
        rerank_model="ragloop-reranker",
        rerank_weight=0.4,
        model_url="http://127.0.0.1:9/v1",  # nothing is asked of it here
        model="chat-m",
        judge_model="judge-m",
        context_tokens=700,
    )
    with open_runtime(settings) as rt:
        described = rt.describe()
        with rt.agent() as agent:
            assert agent.deps.config.context_tokens == 700
            assert agent.deps.retriever is rt.searcher()  # one searcher per collection, shared
            assert agent.deps.token_counter is rt.chat  # token counts from the served model
    assert described["collection"] == "demo"
    assert described["embed_backend"] == "onnx"
    assert described["rerank_model"] is not None and "ragloop-reranker" in described["rerank_model"]
    assert described["rerank_weight"] == 0.4
    assert (described["model"], described["judge_model"]) == ("chat-m", "judge-m")
    assert described["context_tokens"] == 700


def test_a_missing_collection_fails_before_any_model_starts(tmp_path: Path) -> None:
    from retrieval.errors import RetrievalError

    settings = load_settings(home=tmp_path, collection="nope")  # no model_url: a model start would be slow
    with open_runtime(settings) as rt, pytest.raises(RetrievalError, match="nope"):
        rt.agent()
    assert rt._clients is None


@pytest.mark.slow
def test_ask_honours_the_embed_backend_environment(demo_home: Path, echo_model_url: str) -> None:
    """RAGLOOP_EMBED_BACKEND reached `search` but not `ask` before the one wiring path: it must reach both."""
    env = {"RAGLOOP_EMBED_BACKEND": "onnx", "RAGLOOP_CONTEXT_TOKENS": "600"}
    flags = ["--collection", "demo", "--model-url", echo_model_url, "--model", ECHO_MODEL, "--json"]
    answer = json_out(ragloop(demo_home, "ask", "What is reciprocal rank fusion?", *flags, env=env))
    assert answer["runtime"]["embed_backend"] == "onnx"
    assert answer["runtime"]["context_tokens"] == 600
    assert answer["runtime"]["model"] == ECHO_MODEL
