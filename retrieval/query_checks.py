"""Checks on what a user passes to a search, so a bad value is a `RetrievalError` saying what to pass
instead of an OverflowError or RecursionError from deep inside Chroma.

- `check_query`: a query must have some text (`ragloop ask` refuses an empty question; search does too).
- `check_k`: a count (`--k`, `--candidates`) is an integer from 1 to `MAX_K`; Chroma overflows on
  values past 64 bits and a larger count is never useful.
- `check_where`: a `--where` filter is a JSON object nested at most `MAX_WHERE_DEPTH` levels (checked
  without recursion; Chroma's own validation recurses and fails with a traceback around 500 levels).
"""

from __future__ import annotations

from typing import Any

from retrieval.errors import RetrievalError

MAX_K = 10_000
MAX_WHERE_DEPTH = 32


def check_query(query: Any) -> str:
    """The query, unchanged, if it has text; a `RetrievalError` otherwise."""
    if not isinstance(query, str) or not query.strip():
        raise RetrievalError('The query is empty: pass the text to search for, e.g. ragloop search "install steps".')
    return query


def check_k(value: Any, flag: str = "--k") -> int:
    """`value` if it is an integer in [1, MAX_K]; a `RetrievalError` naming `flag` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RetrievalError(f"{flag} must be a whole number from 1 to {MAX_K}, got {value!r}.")
    if not 1 <= value <= MAX_K:
        shown = str(value) if len(str(value)) <= 24 else f"a {len(str(abs(value)))}-digit number"
        raise RetrievalError(f"{flag} must be from 1 to {MAX_K}, got {shown}. Pass e.g. {flag} 10.")
    return value


def check_where(where: Any) -> Any:
    """`where` (None, or a Chroma filter object) if it is an object nested at most MAX_WHERE_DEPTH levels."""
    if where is None:
        return None
    if not isinstance(where, dict) or not where:
        raise RetrievalError('--where must be a non-empty JSON object such as {"source": "a.md"}.')
    stack: list[tuple[Any, int]] = [(where, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_WHERE_DEPTH:
            raise RetrievalError(
                f"--where is nested more than {MAX_WHERE_DEPTH} levels deep; a filter needs a few levels at most, "
                'e.g. {"$and": [{"page": {"$gte": 3}}, {"source": "a.md"}]}.'
            )
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return where
