"""Command-line flags generated from the settings tree, declared once for every command.

    @app.command("ask")
    @with_settings("models", "retrieval", "agent")
    def ask(settings: Settings, question: ..., json_output: JsonOpt = False) -> None: ...

`with_settings` adds one `--field-name` option per scalar field of the named sections (help = the field's
description, short alias from `json_schema_extra={"short": "-c"}`, booleans as `--x/--no-x`), loads the
settings (flags > RAGLOOP_* > ragloop.toml > defaults) and passes them as the first argument. A field opts out
with `json_schema_extra={"cli": False}`; `exclude` drops flags a command does not use.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic.fields import FieldInfo

from agent.settings import SECTIONS, Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only on stdout (progress goes to stderr).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show the node trace (on stderr).")]
ThreadOpt = Annotated[
    str | None, typer.Option("--thread", "-t", help="Continue this thread (ids: `ragloop chat` → /threads).")
]


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _cli_type(annotation: Any) -> type | None:
    """The Python type a flag parses, or None when the field is not a scalar (lists, dicts, models)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _cli_type(args[0]) if len(args) == 1 else None
    if origin is Literal:
        return str
    if annotation in (str, int, float, bool):
        return annotation
    if annotation is typing.Any:
        return None
    if isinstance(annotation, type) and annotation.__name__ == "Path":
        return str
    return None


def settings_flags(
    *sections: str, exclude: tuple[str, ...] = (), only: tuple[str, ...] | None = None
) -> list[tuple[str, str, inspect.Parameter]]:
    """(parameter name, dotted setting path, typer parameter) for the scalar fields of `sections`."""
    out = []
    for section in sections:
        model = SECTIONS[section][0]
        for name, info in model.model_fields.items():
            if name in exclude or (only is not None and name not in only) or _extra(info).get("cli") is False:
                continue
            kind = _cli_type(info.annotation)
            if kind is None:
                continue
            flag = "--" + name.replace("_", "-")
            decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
            if "short" in _extra(info) and kind is not bool:
                decls.append(_extra(info)["short"])
            # rich markup would eat "[n]" and "[env X]": escape the brackets
            help_text = (info.description or name).replace("[", "\\[") + f" \\[env {_env(section, name)}]"
            option = typer.Option(*decls, help=help_text, show_default=False)
            param = inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[kind | None, option],
            )
            out.append((name, f"{section}.{name}", param))
    return out


def _env(section: str, name: str) -> str:
    from agent.settings import env_name

    return env_name(section, name)


def with_settings(
    *sections: str, exclude: tuple[str, ...] = (), only: tuple[str, ...] | None = None
) -> Callable[[F], F]:
    """Decorator: add the settings flags of `sections` to a command and pass it `settings: Settings` first
    (`exclude`: fields left out; `only`: just these fields)."""

    def decorate(func: F) -> F:
        hints = typing.get_type_hints(func, include_extras=True)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(func).parameters.values()
            if p.name != "settings"
        ]
        flags = settings_flags(*sections, exclude=exclude, only=only)
        taken = {p.name for p in own}
        clashes = taken & {name for name, _, _ in flags}
        if clashes:
            raise TypeError(f"{func.__name__}: parameters {sorted(clashes)} clash with settings flags")
        paths = {name: path for name, path, _ in flags}

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {paths[name]: kwargs.pop(name) for name in list(kwargs) if name in paths}
            return func(load_settings(given), *args, **kwargs)

        params = own + [param for _, _, param in flags]
        # typer reads the signature and the type hints: both describe the generated parameters
        command.__signature__ = inspect.Signature(_ordered(params))  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # typing.get_type_hints must see the annotations above, not the original's
        return command  # type: ignore[return-value]

    return decorate


def _ordered(params: list[inspect.Parameter]) -> list[inspect.Parameter]:
    """Positional parameters first (typer arguments), then keyword-only options."""
    order = {
        inspect.Parameter.POSITIONAL_ONLY: 0,
        inspect.Parameter.POSITIONAL_OR_KEYWORD: 1,
        inspect.Parameter.VAR_POSITIONAL: 2,
        inspect.Parameter.KEYWORD_ONLY: 3,
        inspect.Parameter.VAR_KEYWORD: 4,
    }
    return sorted(params, key=lambda p: order[p.kind])


def settings_for(**flags: Any) -> Settings:
    """Settings for commands that take a few flags of their own by bare name (load_settings(collection=...))."""
    return load_settings(None, **flags)
