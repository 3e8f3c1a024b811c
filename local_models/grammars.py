"""JSON schemas → llama.cpp GBNF grammars, with the checks that make constrained output trustworthy.

A grammar can only promise what it can express. llama-cpp-python's converter enforces types, `properties`,
`required`, `enum`/`const`, `anyOf`/`oneOf`, `items`/`minItems`/`maxItems`, `pattern`, string lengths and
`$ref`s; it silently ignores value constraints such as `minimum` or `multipleOf`. A schema that uses one of
those is refused up front (`InvalidRequestError`) rather than producing output that fails validation,
and so is one whose grammar would be too large for llama.cpp (`local_models.schema_limits`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
from llama_cpp.llama_grammar import json_schema_to_gbnf

from local_models.schema_limits import check_grammar_bounds, check_schema_bounds
from local_models.types import InvalidRequestError

# Keywords the grammar cannot enforce, so output might not validate: refused.
UNENFORCEABLE = frozenset(
    {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "not",
        "if",
        "then",
        "else",
        "allOf",
        "uniqueItems",
        "contains",
        "minContains",
        "maxContains",
        "minProperties",
        "maxProperties",
        "patternProperties",
        "propertyNames",
        "dependentRequired",
        "dependentSchemas",
        "dependencies",
        "unevaluatedProperties",
        "unevaluatedItems",
    }
)

# The converter's string characters allow raw control characters, which strict JSON forbids.
_CHAR_RULE = re.compile(r"^char ::= .*$", re.MULTILINE)
_STRICT_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'


@dataclass(frozen=True)
class GrammarSpec:
    """A grammar to constrain generation with, and the schema its output must validate against."""

    gbnf: str
    schema: dict[str, Any]


def validator_for(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def check_schema(schema: Any, param: str, where: str) -> dict[str, Any]:
    """Raise `InvalidRequestError(param=param)` unless `schema` is a valid, grammar-enforceable schema."""
    if not isinstance(schema, dict):
        raise InvalidRequestError(f"{where} must be a JSON schema object, got {type(schema).__name__}.", param)
    check_schema_bounds(schema, param, where)  # first: the checks below recurse, llama.cpp's parser too
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidRequestError(f"{where} is not a valid JSON schema: {exc.message[:300]}", param) from exc
    except RecursionError as exc:  # e.g. a regex the `re` parser recurses on; bounded above, but never a 500
        raise InvalidRequestError(f"{where} is too deeply nested to check; simplify it.", param) from exc
    bad = sorted(_unenforceable_keywords(schema))
    if bad:
        raise InvalidRequestError(
            f"{where} uses {', '.join(bad)}, which constrained decoding cannot enforce, so the output could "
            "fail validation. Remove these keywords (check the values after the call instead).",
            param,
        )
    return schema


def _unenforceable_keywords(node: Any, in_properties: bool = False) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if not in_properties and key in UNENFORCEABLE:
                found.add(key)
            if key in ("enum", "const", "default", "examples"):
                continue  # values, not schemas
            found |= _unenforceable_keywords(value, in_properties=key in ("properties", "$defs", "definitions"))
    elif isinstance(node, list):
        for item in node:
            found |= _unenforceable_keywords(item)
    return found


def schema_to_gbnf(schema: dict[str, Any], param: str, where: str) -> str:
    """Convert a checked schema to GBNF; a schema the converter cannot handle is a bad request."""
    try:
        gbnf = json_schema_to_gbnf(json.dumps(schema))
    except (AssertionError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidRequestError(f"{where} cannot be turned into a grammar: {str(exc)[:300]}", param) from exc
    check_grammar_bounds(gbnf, param, where)
    return _CHAR_RULE.sub(lambda _: _STRICT_CHAR, gbnf)


def response_format_grammar(response_format: dict[str, Any] | None) -> GrammarSpec | None:
    """The grammar for an OpenAI `response_format`, or None for plain text."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise InvalidRequestError("response_format must be an object.", "response_format")
    kind = response_format.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        schema: dict[str, Any] = {"type": "object"}
        return GrammarSpec(schema_to_gbnf({}, "response_format", "response_format"), schema)
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or "schema" not in spec:
            raise InvalidRequestError(
                'response_format json_schema needs {"json_schema": {"name": ..., "schema": {...}}}.',
                "response_format",
            )
        schema = check_schema(spec["schema"], "response_format", "response_format.json_schema.schema")
        return GrammarSpec(schema_to_gbnf(schema, "response_format", "response_format.json_schema.schema"), schema)
    raise InvalidRequestError(
        f"response_format type {kind!r} is not supported; use 'text', 'json_object' or 'json_schema'.",
        "response_format",
    )


def tool_call_schema(tools: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The schema of one call `{"name": ..., "arguments": {...}}` to any of `tools` (name → parameters).

    Each tool's `$defs` move to the top level under a per-tool prefix, so its local `$ref`s still resolve.
    """
    defs: dict[str, Any] = {}
    options = []
    for index, (name, parameters) in enumerate(tools.items()):
        params = dict(parameters)
        prefix = f"t{index}-"
        for key in ("$defs", "definitions"):
            for def_name, def_schema in params.pop(key, {}).items():
                defs[prefix + def_name] = _prefix_refs(def_schema, prefix)
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": _prefix_refs(params, prefix)},
                "required": ["name", "arguments"],
            }
        )
    schema = options[0] if len(options) == 1 else {"anyOf": options}
    return {**schema, "$defs": defs} if defs else schema


def _prefix_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        out = {key: _prefix_refs(value, prefix) for key, value in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and (match := re.match(r"^#/(\$defs|definitions)/(.+)$", ref)):
            out["$ref"] = f"#/$defs/{prefix}{match[2]}"
        return out
    if isinstance(node, list):
        return [_prefix_refs(item, prefix) for item in node]
    return node


def tool_call_grammar(tools: dict[str, dict[str, Any]], closing: str) -> GrammarSpec:
    """A grammar for one call to one of `tools`, then the closing markup (e.g. "\\n</tool_call>")."""
    schema = tool_call_schema(tools)
    gbnf = re.sub(
        r"^root ::= ", "tool-call-json ::= ", schema_to_gbnf(schema, "tools", "the tools"), count=1, flags=re.M
    )
    closing_literal = json.dumps(closing)  # a JSON string literal is also a valid GBNF literal
    return GrammarSpec(f"root ::= tool-call-json {closing_literal}\n{gbnf}", schema)
