"""Schema bounds: refused with the keyword and the bound before any grammar reaches llama.cpp."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from local_models.grammars import check_schema, response_format_grammar, schema_to_gbnf, tool_call_grammar
from local_models.schema_limits import (
    MAX_GRAMMAR_NESTING,
    MAX_PATTERN_GROUPS,
    MAX_REPEAT,
    MAX_SCHEMA_DEPTH,
    MAX_TOTAL_REPEAT,
    grammar_nesting,
)
from local_models.tool_calls import check_tools
from local_models.types import InvalidRequestError


def _refusal(schema: dict[str, Any]) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        response_format_grammar({"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    assert caught.value.param == "response_format"
    return str(caught.value)


@pytest.mark.parametrize(
    ("schema", "keyword"),
    [
        ({"type": "string", "maxLength": 20000}, "maxLength"),
        ({"type": "string", "minLength": 20000}, "minLength"),
        ({"type": "array", "items": {"type": "integer"}, "maxItems": 20000}, "maxItems"),
        ({"type": "array", "items": {"type": "integer"}, "minItems": MAX_REPEAT + 1}, "minItems"),
        ({"type": "object", "properties": {"a": {"type": "string", "maxLength": 1e9}}}, "maxLength"),
    ],
)
def test_repetition_keywords_over_the_bound_are_refused(schema: dict[str, Any], keyword: str) -> None:
    message = _refusal(schema)
    assert keyword in message and str(MAX_REPEAT) in message


def test_bounds_at_the_limit_are_accepted() -> None:
    spec = response_format_grammar(
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "maxLength": MAX_REPEAT}}}
    )
    assert spec is not None and grammar_nesting(spec.gbnf) <= MAX_GRAMMAR_NESTING


def test_pattern_quantifier_over_the_bound_is_refused() -> None:
    message = _refusal({"type": "string", "pattern": "^a{2,50000}$"})
    assert "pattern" in message and "{2,50000}" in message and str(MAX_REPEAT) in message


def test_deeply_nested_schema_is_refused_without_recursion_error() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(400):
        schema = {"type": "array", "items": schema}
    message = _refusal(schema)
    assert f"more than {MAX_SCHEMA_DEPTH} levels" in message


def test_grammar_nesting_ignores_literals_and_classes() -> None:
    assert grammar_nesting('root ::= "(((" [()] ("a" ("b")?)?') == 2
    assert grammar_nesting('root ::= "\\"(" x') == 0


def test_big_grammar_is_refused_by_size() -> None:
    properties = {f"p{i}": {"type": "string", "minLength": MAX_REPEAT} for i in range(60)}
    with pytest.raises(InvalidRequestError, match=r"grammar of .* characters"):
        schema_to_gbnf({"type": "object", "properties": properties}, "response_format", "the schema")


def test_tool_parameters_over_the_bound_are_refused_naming_the_tool() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "save",
            "parameters": {"type": "object", "properties": {"text": {"type": "string", "maxLength": 20000}}},
        },
    }
    with pytest.raises(InvalidRequestError) as caught:
        check_tools([tool])
    assert caught.value.param == "tools" and "maxLength" in str(caught.value) and "properties.text" in str(caught.value)


def test_several_tools_add_up_in_the_grammar_size_check() -> None:
    params = {"type": "object", "properties": {f"p{i}": {"type": "string", "minLength": 900} for i in range(10)}}
    tools = {f"t{n}": check_schema(params, "tools", f"tools[{n}]") for n in range(6)}
    with pytest.raises(InvalidRequestError, match="grammar of"):
        tool_call_grammar(tools, "</tool_call>")


def test_enum_values_are_data_not_schemas() -> None:
    schema = {"type": "string", "enum": ["a", "b"], "default": json.loads('{"maxLength": 99999}')}
    assert check_schema(schema, "response_format", "schema") is schema


@pytest.mark.parametrize(
    "pattern",
    [
        "^((a{0,999}){0,999})$",  # a million copies: the converter would run for minutes
        "^" + "(ab{0,100})" * 201 + "$",  # sequential ones add up
    ],
)
def test_pattern_expansion_is_bounded(pattern: str) -> None:
    message = _refusal({"type": "string", "pattern": pattern})
    assert f"{MAX_TOTAL_REPEAT:,}" in message


def test_pattern_groups_nested_too_deep_are_refused() -> None:
    message = _refusal({"type": "string", "pattern": "^" + "(" * 900 + "a" + ")" * 900 + "$"})
    assert f"more than {MAX_PATTERN_GROUPS} deep" in message


@pytest.mark.parametrize(
    "pattern",
    [r"^[a-z]{1,50}@[a-z]{1,50}\.[a-z]{2,10}$", r"^\d{3}-\d{4}$", r"^([A-Z][a-z]{0,20} ?){1,5}$", r"^[\]{]{2}$"],
)
def test_ordinary_patterns_pass(pattern: str) -> None:
    spec = response_format_grammar(
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": pattern}}}
    )
    assert spec is not None


def test_bounds_of_many_properties_add_up() -> None:
    properties = {f"p{i}": {"type": "string", "maxLength": 1000} for i in range(21)}
    assert f"{MAX_TOTAL_REPEAT:,}" in _refusal({"type": "object", "properties": properties})


@pytest.mark.slow
def test_a_grammar_llama_cpp_rejects_is_logged_briefly() -> None:
    """llama.cpp prints a rejected grammar whole on fd 2 (12 KB here, 120 KB for maxLength 20000): capped."""
    code = (
        "import json\n"
        "from llama_cpp.llama_grammar import json_schema_to_gbnf\n"
        "from local_models.engine import load_engine\n"
        "from local_models.grammars import GrammarSpec\n"
        "from local_models.server.settings import default_cache_dir\n"
        "from local_models.types import InvalidRequestError\n"
        "engine = load_engine('smollm2-135m', default_cache_dir(), n_ctx=256, n_threads=1)\n"
        "gbnf = json_schema_to_gbnf(json.dumps({'type': 'string', 'maxLength': 1500}))  # past our bound on purpose\n"
        "try:\n"
        "    engine._check_grammar(GrammarSpec(gbnf, {}), 'response_format')\n"
        "except InvalidRequestError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "cannot parse" in done.stdout, done.stderr[-2000:]
    assert "more bytes not shown" in done.stderr and len(done.stderr) < 3000
