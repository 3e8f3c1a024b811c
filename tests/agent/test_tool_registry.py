"""The tool registry: schemas from type hints and docstrings, checked at registration; calls validated."""

from __future__ import annotations

import json
from typing import Literal

import pytest

from tools.builtin import builtin_registry, calculator, current_time
from tools.registry import ToolDefinitionError, ToolRegistry, tool_from_function


def convert(amount: float, unit: Literal["km", "mi"] = "km", precise: bool = False) -> str:
    """Convert a distance to meters.

    Args:
        amount: The distance, a number.
        unit: The unit of `amount`.
        precise: Keep all decimals
            instead of rounding.
    """
    meters = amount * (1000 if unit == "km" else 1609.344)
    return str(meters if precise else round(meters))


def explode(reason: str) -> str:
    """Always fails.

    Args:
        reason: Why.
    """
    raise RuntimeError(f"boom: {reason}")


def test_schema_comes_from_hints_and_docstring() -> None:
    tool = tool_from_function(convert)
    assert tool.description == "Convert a distance to meters."
    params = tool.parameters
    assert params["type"] == "object"
    assert params["required"] == ["amount"]
    assert params["additionalProperties"] is False
    assert params["properties"]["amount"] == {"type": "number", "description": "The distance, a number."}
    assert params["properties"]["unit"]["enum"] == ["km", "mi"]
    assert params["properties"]["unit"]["default"] == "km"
    assert params["properties"]["precise"]["type"] == "boolean"
    assert params["properties"]["precise"]["description"] == "Keep all decimals instead of rounding."
    schema = ToolRegistry([convert]).schemas()[0]
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "convert"
    assert schema["function"]["parameters"] == params


def undocumented(x: int) -> int:
    return x


def unhinted(x) -> str:
    """Has a docstring."""
    return str(x)


def no_return_hint(x: int):
    """Has a docstring."""
    return x


def var_args(*values: int) -> int:
    """Sums."""
    return sum(values)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (undocumented, "needs a docstring"),
        (unhinted, "needs a type hint"),
        (no_return_hint, "return type hint"),
        (var_args, "must be a named parameter"),
    ],
)
def test_registration_rejects_functions_that_cannot_be_tools(fn: object, message: str) -> None:
    with pytest.raises(ToolDefinitionError, match=message):
        ToolRegistry().register(fn)  # type: ignore[arg-type]


def test_duplicate_and_bad_names_are_rejected() -> None:
    registry = ToolRegistry([convert])
    with pytest.raises(ToolDefinitionError, match="already registered"):
        registry.register(convert)
    with pytest.raises(ToolDefinitionError, match="must match"):
        registry.register(convert, name="bad name!")
    assert registry.register(convert, name="convert2").name == "convert2"
    assert registry.names() == ["convert", "convert2"]


def test_call_validates_arguments_and_returns_errors_as_text() -> None:
    registry = ToolRegistry([convert, explode])
    assert registry.call("convert", json.dumps({"amount": 2})) == "2000"
    assert registry.call("convert", '{"amount": "1.5", "unit": "mi"}') == "2414"  # lax numeric string, like pydantic

    unknown = registry.execute("teleport", "{}")
    assert unknown.error and "unknown tool 'teleport'" in unknown.content and "convert, explode" in unknown.content
    bad_json = registry.execute("convert", "{amount: 2")
    assert bad_json.error and "not valid JSON" in bad_json.content
    not_object = registry.execute("convert", "[1]")
    assert not_object.error and "must be a JSON object" in not_object.content
    invalid = registry.execute("convert", '{"amount": 1, "unit": "parsec"}')
    assert invalid.error and "unit" in invalid.content and invalid.content.startswith("Error:")
    missing = registry.execute("convert", "{}")
    assert missing.error and "amount" in missing.content
    extra = registry.execute("convert", '{"amount": 1, "speed": 3}')
    assert extra.error and "speed" in extra.content
    failing = registry.execute("explode", '{"reason": "test"}')
    assert failing.error and "RuntimeError: boom: test" in failing.content


def test_builtin_tools() -> None:
    registry = builtin_registry()
    assert set(registry.names()) == {"calculator", "current_time"}
    assert calculator("(2 + 3) * 4") == "20"
    assert calculator("2 ** 10 / 4") == "256"
    assert calculator("sqrt(2)").startswith("1.414")
    for bad in ("__import__('os')", "2 +", "x * 2", "10 ** 100000"):
        with pytest.raises(ValueError):
            calculator(bad)
    assert current_time("UTC").endswith("+00:00")
    with pytest.raises(ValueError, match="unknown time zone"):
        current_time("Mars/Olympus")
    assert registry.execute("calculator", '{"expression": "1/0"}').error == (
        "tool 'calculator' failed: ZeroDivisionError: division by zero"
    )
