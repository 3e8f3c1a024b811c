"""The README's commands and options exist: every `ragloop ...` it names resolves to a command, and every
`--flag` on that line is an option of that command (the README and `--help` cannot drift apart)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main

from agent.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
_COMMAND = re.compile(r"ragloop((?:[ \t]+[a-z][a-z0-9-]*)+)((?:\\\||[^`|\n])*)")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _resolve(root: Any, words: list[str]) -> tuple[Any, list[str]]:
    command = root
    used: list[str] = []
    for word in words:
        if hasattr(command, "commands") and word in command.commands:
            command = command.commands[word]
            used.append(word)
        else:
            break
    return command, used


def _options(command: Any) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        names.update(param.opts)
        names.update(param.secondary_opts)
    return names


def readme_mentions() -> list[tuple[str, list[str], list[str]]]:
    """(the text, the command words, the flags) of every `ragloop ...` in the README's code (spans and blocks)."""
    text = README.read_text(encoding="utf-8")
    code = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)  # fenced blocks
    code += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))  # inline spans
    found = []
    for match in _COMMAND.finditer("\n".join(code)):
        words = match.group(1).split()
        flags = _FLAG.findall(match.group(2))
        found.append((match.group(0).strip(), words, flags))
    return found


def test_readme_commands_and_options_exist() -> None:
    root = typer.main.get_command(app)
    assert hasattr(root, "commands")
    mentions = readme_mentions()
    assert len(mentions) > 15  # the README documents the CLI
    problems = []
    for text, words, flags in mentions:
        command, used = _resolve(root, words)
        if not used:
            problems.append(f"{text!r}: no command {words[0]!r}")
            continue
        if hasattr(command, "commands"):
            continue  # e.g. "ragloop models list|path": the table lists the subcommands
        known = _options(command) | {"--help", "-h"}
        problems += [
            f"{text!r}: `ragloop {' '.join(used)}` has no option {flag}" for flag in flags if flag not in known
        ]
    assert not problems, "\n".join(problems)
