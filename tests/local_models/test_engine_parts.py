"""The engine's model-free parts: schemas to grammars, tool definitions and call parsing, chat messages,
and the text stream that holds back stop strings."""

from __future__ import annotations

import json

import pytest

from local_models.chat_format import ChatTemplate, infer_tool_style, normalize_messages, prompted_messages
from local_models.grammars import check_schema, response_format_grammar, tool_call_grammar, tool_call_schema
from local_models.text_stream import TextStream
from local_models.tool_calls import ToolCallError, check_tools, parse_call, resolve_tool_choice, split_calls
from local_models.types import InvalidRequestError

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}


# -- grammars ----------------------------------------------------------------------------------------
def test_json_schema_grammar_keeps_strings_strict_json() -> None:
    spec = response_format_grammar(
        {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
        }
    )
    assert spec is not None
    char_rule = next(line for line in spec.gbnf.splitlines() if line.startswith("char ::="))
    assert r"\x00-\x1F" in char_rule  # raw control characters are not valid inside JSON strings


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}},
        {"type": "json_schema", "json_schema": {"name": "x"}},
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer", "minimum": 3}}},
        {"type": "xml"},
        "json",
    ],
)
def test_bad_response_formats_are_request_errors(response_format: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        response_format_grammar(response_format)  # type: ignore[arg-type]
    assert info.value.param == "response_format"


def test_unenforceable_keyword_is_named_but_property_names_are_not_keywords() -> None:
    with pytest.raises(InvalidRequestError, match="multipleOf"):
        check_schema({"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 2}}}, "p", "s")
    # a property *called* "minimum" is fine
    check_schema({"type": "object", "properties": {"minimum": {"type": "integer"}}}, "p", "s")


def test_text_and_json_object_formats() -> None:
    assert response_format_grammar(None) is None
    assert response_format_grammar({"type": "text"}) is None
    spec = response_format_grammar({"type": "json_object"})
    assert spec is not None and "root ::= object" in spec.gbnf


def test_tool_call_grammar_moves_defs_and_ends_with_closing_markup() -> None:
    tools = {
        "pick": {
            "type": "object",
            "properties": {"c": {"$ref": "#/$defs/Color"}},
            "$defs": {"Color": {"enum": ["red"]}},
        },
        "noop": {"type": "object", "properties": {}},
    }
    schema = tool_call_schema(tools)
    assert schema["$defs"] == {"t0-Color": {"enum": ["red"]}}
    assert schema["anyOf"][0]["properties"]["arguments"]["properties"]["c"] == {"$ref": "#/$defs/t0-Color"}
    spec = tool_call_grammar(tools, "\n</tool_call>")
    assert spec.gbnf.startswith('root ::= tool-call-json "\\n</tool_call>"')


# -- tools -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tools",
    [
        [],
        [{"type": "function"}],
        [{"type": "function", "function": {"name": "has space"}}],
        [WEATHER, WEATHER],
        [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}],
        [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": 3}}}],
    ],
)
def test_bad_tools_are_request_errors(tools: list[object]) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_tools(tools)
    assert info.value.param == "tools"


def test_tool_choice_modes() -> None:
    tools = check_tools([WEATHER])
    assert resolve_tool_choice(None, tools) == ("auto", ["get_weather"])
    assert resolve_tool_choice(None, None) == ("none", [])
    assert resolve_tool_choice("required", tools) == ("required", ["get_weather"])
    named = {"type": "function", "function": {"name": "get_weather"}}
    assert resolve_tool_choice(named, tools) == ("required", ["get_weather"])
    for bad in ({"type": "function", "function": {"name": "nope"}}, "sometimes"):
        with pytest.raises(InvalidRequestError) as info:
            resolve_tool_choice(bad, tools)
        assert info.value.param == "tool_choice"
    with pytest.raises(InvalidRequestError):
        resolve_tool_choice("required", None)


def test_parse_call_validates_arguments() -> None:
    parameters = check_tools([WEATHER]).parameters
    call = parse_call('{"name": "get_weather", "arguments": {"city": "Oslo"}}', parameters)
    assert call.id.startswith("call_") and json.loads(call.arguments) == {"city": "Oslo"}
    with pytest.raises(ToolCallError) as info:
        parse_call('{"name": "get_weather", "arguments": {"unit": "c"}}', parameters)
    assert info.value.name == "get_weather"  # the name was right: a repair can keep it
    with pytest.raises(ToolCallError) as info:
        parse_call('{"name": "get_wether", "arguments": {}}', parameters)
    assert info.value.name is None
    with pytest.raises(ToolCallError):
        parse_call("{not json", parameters)


def test_split_calls_finds_every_block() -> None:
    text = '<tool_call>\n{"a": 1}\n</tool_call>\n<tool_call>\n{"b": 2}'
    assert split_calls(text) == ['{"a": 1}', '{"b": 2}']


# -- chat --------------------------------------------------------------------------------------------
def test_infer_tool_style() -> None:
    assert infer_tool_style(None) == "none"
    assert infer_tool_style("{{ messages }}") == "prompted"
    assert infer_tool_style("{% if tools %}<tool_call>{% endif %}") == "native"


def test_messages_are_checked() -> None:
    for bad in ([], [{"role": "wizard", "content": "x"}], [{"role": "user", "content": [{"type": "image_url"}]}]):
        with pytest.raises(InvalidRequestError) as info:
            normalize_messages(bad)
        assert info.value.param == "messages"
    parts = normalize_messages(
        [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    )
    assert parts[0]["content"] == "ab"


def test_prompted_messages_render_tool_history_as_text() -> None:
    history = normalize_messages(
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "cold"},
        ]
    )
    out = prompted_messages(history, [WEATHER])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert "get_weather" in out[0]["content"] and "<tool_call>" in out[0]["content"]
    assert out[2]["content"] == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
    assert out[3]["content"] == "<tool_response>\ncold\n</tool_response>"


def test_template_tojson_does_not_html_escape() -> None:
    template = ChatTemplate("{{ messages[0] | tojson }}", "<s>", "</s>")
    assert template.render([{"role": "user", "content": "<b>&"}]) == '{"role": "user", "content": "<b>&"}'
    failing = ChatTemplate("{{ raise_exception('no system role') }}", "", "")
    with pytest.raises(InvalidRequestError, match="no system role"):
        failing.render([{"role": "user", "content": "x"}])


# -- text stream -------------------------------------------------------------------------------------
def test_stop_string_split_across_tokens_is_never_released() -> None:
    stream = TextStream(["STOP"])
    released = ""
    for piece in [b"Hello S", b"T", b"OP after"]:
        stream.push(piece)
        if (at := stream.find_stop()) >= 0:
            released += stream.release(at)
            break
        released += stream.release()
    assert released == "Hello "


def test_partial_utf8_waits_for_its_last_byte() -> None:
    stream = TextStream([])
    snowman = "☃".encode()
    stream.push(snowman[:2])
    assert stream.release() == ""
    stream.push(snowman[2:])
    assert stream.release() == "☃"


def test_marker_and_trailing_whitespace_are_held() -> None:
    stream = TextStream([], markers=("<tool_call>",), hold_whitespace=True)
    stream.push(b"Sure. \n<tool")
    assert stream.release() == "Sure."
    assert stream.tokens_before(len("Sure. \n")) == 0


def test_tool_parameters_are_closed_so_a_schema_written_as_arguments_is_refused() -> None:
    """A small model in auto mode wrote a no-argument tool's schema as its arguments; closed schemas refuse it
    (and the server generates the call again under the grammar)."""
    from local_models.tool_calls import ToolCallError, check_tools, parse_call

    tools = check_tools(
        [
            {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}},
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "parameters": {
                        "type": "object",
                        "properties": {"q": {"type": "string"}, "opts": {"type": "object", "properties": {}}},
                        "required": ["q"],
                    },
                },
            },
        ]
    )
    with pytest.raises(ToolCallError, match="do not match"):
        parse_call('{"name": "now", "arguments": {"type": "object"}}', tools.parameters)
    assert parse_call('{"name": "now", "arguments": {}}', tools.parameters).arguments == "{}"
    with pytest.raises(ToolCallError):
        parse_call('{"name": "lookup", "arguments": {"q": "x", "extra": 1}}', tools.parameters)
    with pytest.raises(ToolCallError):
        parse_call('{"name": "lookup", "arguments": {"q": "x", "opts": {"deep": 1}}}', tools.parameters)
    assert parse_call('{"name": "lookup", "arguments": {"q": "x"}}', tools.parameters).name == "lookup"
    # what the template shows the model stays the caller's schema
    assert tools.definitions[0]["function"]["parameters"] == {"type": "object"}
