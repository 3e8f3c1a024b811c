"""The composition root: the `ragloop` command, the only code that wires every area together.

Command modules import their heavy dependencies inside the command functions, so that
`ragloop --help` stays instant.
"""

# Importing a command module registers its commands on the app.
from agent.cli import (  # noqa: F401
    ask_cmd,
    bench_agent_cmd,
    bench_cmd,
    bench_embedders_cmd,
    bench_mcp_cmd,
    bench_retrieval_cmd,
    chat_cmd,
    config_cmd,
    demo_cmd,
    eval_cmd,
    ingest_cmd,
    mcp_cmd,
    memory_cmd,
    models_cmd,
    reranker_cmd,
    search_cmd,
    serve_cmd,
)
from agent.cli.app import app, main

__all__ = ["app", "main"]
