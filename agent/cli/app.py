"""The `ragloop` Typer app and the entry point that turns user errors into clean messages."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="ragloop",
    help="Offline-first agentic RAG: local models, hybrid retrieval, an agent loop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
models_app = typer.Typer(help="List and locate the local GGUF models.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print ratios measured side by side in one run.", no_args_is_help=True)
app.add_typer(models_app, name="models")
eval_app = typer.Typer(help="Evaluate retrieval and answers: suites, reports, comparisons.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(eval_app, name="eval")


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is meant for the user: printed without a traceback."""
    from agent.errors import AgentError
    from agent.settings import SettingsError
    from local_models.errors import ModelError

    types: list[type[BaseException]] = [SettingsError, ModelError, AgentError]
    try:
        from retrieval.errors import RetrievalError

        types.append(RetrievalError)
    except ImportError:  # pragma: no cover - retrieval not built yet
        pass
    return tuple(types)


def main() -> None:
    try:
        app()
    except user_error_types() as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
