"""Composition of the agent commands from settings (no model server is started here: --model-url is given)."""

from __future__ import annotations

from pathlib import Path

from agent.cli.wiring import Endpoint, agent_config, model_endpoints, plain_config
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
    full = agent_config(settings)
    assert (full.context_tokens, full.max_retries, full.max_tool_steps, full.budget_seconds) == (900, 1, 2, 30)
    assert full.route and full.rewrite and full.llm_grading and full.reflect
    plain = plain_config(settings)
    assert (plain.route, plain.rewrite, plain.llm_grading, plain.reflect) == (False, False, False, False)
    assert (plain.max_retries, plain.k, plain.context_tokens) == (0, 5, 900)
