"""Bounds on the JSON schemas a request may constrain output with, checked before llama.cpp sees a grammar.

llama-cpp-python's converter turns `"maxLength": N` (and `maxItems`, `minItems`, `minLength`, a regex
`{m,n}`) into N copies of a rule nested N parentheses deep; llama.cpp's recursive grammar parser then
refuses a few thousand levels and overflows its stack (the server process dies) at about 20,000. So a
request is refused with a 400 that names the keyword and the bound when:

- a repetition keyword (`maxLength`, `minLength`, `maxItems`, `minItems`) or a `pattern` quantifier
  exceeds `MAX_REPEAT`;
- all of them together would expand to more than `MAX_TOTAL_REPEAT` copies of a rule: nested pattern
  quantifiers multiply (`^((a{0,999}){0,999})$` is a million copies, which the converter would spend
  minutes building while the model waits), sequential ones and separate keywords add up;
- a `pattern` nests its groups deeper than `MAX_PATTERN_GROUPS` (Python's regex parser recurses);
- the schema nests deeper than `MAX_SCHEMA_DEPTH` objects/arrays (checked iteratively: a schema nested
  400 deep must not hit Python's recursion limit either);
- the generated grammar is larger than `MAX_GRAMMAR_CHARS` or nests its groups deeper than
  `MAX_GRAMMAR_NESTING`.

The checks walk the schema and the grammar without recursion, so no input can exhaust the stack.
"""

from __future__ import annotations

import re
from typing import Any

from local_models.types import InvalidRequestError

MAX_REPEAT = 1000
MAX_TOTAL_REPEAT = 20_000
MAX_PATTERN_GROUPS = 32
MAX_SCHEMA_DEPTH = 64
MAX_GRAMMAR_CHARS = 200_000
MAX_GRAMMAR_NESTING = 1000
REPEAT_KEYWORDS = ("maxLength", "minLength", "maxItems", "minItems")
_QUANTIFIER = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")
_VALUE_KEYWORDS = frozenset({"enum", "const", "default", "examples"})  # their values are data, not schemas


def check_schema_bounds(schema: Any, param: str, where: str) -> None:
    """Raise `InvalidRequestError(param=param)` when `schema` exceeds one of the bounds above."""
    stack: list[tuple[Any, int, str, bool]] = [(schema, 1, where, False)]
    total = 0
    while stack:
        node, depth, path, is_data = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            raise InvalidRequestError(
                f"{where} is nested more than {MAX_SCHEMA_DEPTH} levels deep (at {_short(path)}); flatten the schema.",
                param,
            )
        if isinstance(node, dict):
            if not is_data:
                total += _check_keywords(node, param, path)
                if total > MAX_TOTAL_REPEAT:
                    raise InvalidRequestError(
                        f"{where} repeats rules about {total:,} times in all (length and item bounds, pattern "
                        f"quantifiers; nested quantifiers multiply); this server allows {MAX_TOTAL_REPEAT:,}. "
                        f"Use fewer or smaller bounds (the last one counted is at {_short(path)}).",
                        param,
                    )
            for key, value in node.items():
                if isinstance(value, dict | list):
                    stack.append((value, depth + 1, f"{path}.{key}", is_data or key in _VALUE_KEYWORDS))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, dict | list):
                    stack.append((value, depth + 1, f"{path}[{index}]", is_data))


def _check_keywords(node: dict[str, Any], param: str, path: str) -> int:
    """Check one schema node's own keywords; return how many rule copies they will expand to."""
    expansion = 0
    for keyword in REPEAT_KEYWORDS:
        value = node.get(keyword)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value > MAX_REPEAT:
                raise InvalidRequestError(
                    f"{_short(path)}.{keyword} is {value:g}; this server allows at most {MAX_REPEAT} "
                    f"({keyword} becomes a grammar rule repeated that many times). Lower it, and check "
                    "longer values after the call.",
                    param,
                )
            expansion += max(0, int(value))
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        expansion += _pattern_expansion(pattern, param, f"{_short(path)}.pattern")
    return expansion


def _pattern_expansion(pattern: str, param: str, where: str) -> int:
    """How many atoms the converter will write for `pattern`: a sequence adds up, a quantified group
    multiplies its content. Raises for a quantifier over MAX_REPEAT or groups nested too deep."""
    sums = [0]  # one running total per open group
    index, size = 0, len(pattern)
    while index < size:
        char = pattern[index]
        index += 1
        if char == "(":
            if len(sums) > MAX_PATTERN_GROUPS:
                raise InvalidRequestError(
                    f"{where} nests groups more than {MAX_PATTERN_GROUPS} deep; flatten it.", param
                )
            if pattern.startswith("?", index):  # (?:...), (?=...): the marker is not an atom
                index += 2
            sums.append(0)
            continue
        if char == ")":
            inner = sums.pop() if len(sums) > 1 else 0
            times, index = _quantifier(pattern, index, param, where)
            sums[-1] += inner * times
            continue
        if char == "\\":
            index += 1
        elif char == "[":
            index = _class_end(pattern, index)
        elif char in "|^$":
            continue
        times, index = _quantifier(pattern, index, param, where)
        sums[-1] += times
    return sum(sums)


def _quantifier(pattern: str, index: int, param: str, where: str) -> tuple[int, int]:
    """The largest count of the quantifier at `index` (1 for none, `*`, `+`, `?`) and the index after it."""
    match = _QUANTIFIER.match(pattern, index)
    if match is None:
        if index < len(pattern) and pattern[index] in "*+?":
            index += 1
            if index < len(pattern) and pattern[index] == "?":  # lazy
                index += 1
        return 1, index
    counts = [int(n) for n in match.groups() if n]
    if max(counts) > MAX_REPEAT:
        raise InvalidRequestError(
            f"{where} repeats {match.group(0)}; this server allows at most {MAX_REPEAT} repetitions in a "
            "pattern quantifier. Lower it.",
            param,
        )
    return max(counts), match.end()


def _class_end(pattern: str, index: int) -> int:
    """The index after the `]` closing a character class whose `[` is just before `index`."""
    if pattern.startswith("^", index):
        index += 1
    if pattern.startswith("]", index):
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1


def check_grammar_bounds(gbnf: str, param: str, where: str) -> None:
    """Refuse a generated grammar too large or too deeply nested for llama.cpp's parser."""
    if len(gbnf) > MAX_GRAMMAR_CHARS:
        raise InvalidRequestError(
            f"{where} gives a grammar of {len(gbnf):,} characters; this server allows at most "
            f"{MAX_GRAMMAR_CHARS:,}. Use fewer or smaller length and item bounds, or fewer properties.",
            param,
        )
    nesting = grammar_nesting(gbnf)
    if nesting > MAX_GRAMMAR_NESTING:
        raise InvalidRequestError(
            f"{where} gives a grammar nested {nesting:,} groups deep; this server allows at most "
            f"{MAX_GRAMMAR_NESTING:,}. Lower maxLength / maxItems / pattern repetitions.",
            param,
        )


def grammar_nesting(gbnf: str) -> int:
    """The deepest parenthesis nesting in a GBNF text, ignoring string literals and character classes."""
    deepest = depth = 0
    index, size = 0, len(gbnf)
    while index < size:
        char = gbnf[index]
        if char in '"[':
            closing = '"' if char == '"' else "]"
            index += 1
            while index < size and gbnf[index] != closing:
                index += 2 if gbnf[index] == "\\" else 1
        elif char == "#":
            while index < size and gbnf[index] != "\n":
                index += 1
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
        index += 1
    return deepest


def _short(path: str, limit: int = 120) -> str:
    return path if len(path) <= limit else path[:50] + " ... " + path[-60:]
