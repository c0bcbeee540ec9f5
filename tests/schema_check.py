"""A small JSON Schema (draft 2020-12) checker for the subset docs/manifest.schema.json and
docs/schemas/*.schema.json use. A keyword outside that subset is refused rather than ignored,
so a schema cannot say more than is checked. ``contentSchema`` is checked too (2020-12 makes
it an annotation) when the string is base64 of JSON: the RVPS message's payload."""
from __future__ import annotations

import base64
import json
import re

TYPES = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool,
         "null": type(None)}
ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "examples",
               "contentEncoding", "contentMediaType"}
KEYWORDS = ANNOTATIONS | {
    "$ref", "$defs", "const", "enum", "type", "oneOf", "pattern", "minLength", "maxLength",
    "minimum", "maximum", "required", "properties", "additionalProperties", "propertyNames",
    "minProperties", "items", "minItems", "maxItems", "contentSchema"}


class SchemaError(AssertionError):
    """The value does not match the schema (or the schema uses an unknown keyword)."""


def _fail(path, *what):
    raise SchemaError((path, *what))


def _is(value, kind: str) -> bool:
    return isinstance(value, TYPES[kind]) and not (kind == "integer" and isinstance(value, bool))


def check(value, schema, root=None, path="$"):
    root = root or schema
    unknown = set(schema) - KEYWORDS
    if unknown:
        _fail(path, "schema keywords this checker does not know", sorted(unknown))
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            _fail(path, "only local #/$defs/ references", ref)
        check(value, root["$defs"][ref.split("/")[-1]], root, path)
    if "const" in schema and value != schema["const"]:
        _fail(path, value, "is not", schema["const"])
    if "enum" in schema and value not in schema["enum"]:
        _fail(path, value, "not in", schema["enum"])
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, kind) for kind in kinds):
            _fail(path, value, "is not", kinds)
    if "oneOf" in schema:
        errors = []
        for option in schema["oneOf"]:
            try:
                check(value, option, root, path)
            except SchemaError as exc:
                errors.append(exc.args)
        matching = len(schema["oneOf"]) - len(errors)
        if matching != 1:
            _fail(path, f"matches {matching} of the oneOf alternatives, not exactly one",
                  errors)
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            _fail(path, value, "does not match", schema["pattern"])
        if len(value) < schema.get("minLength", 0):
            _fail(path, "shorter than", schema["minLength"])
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            _fail(path, "longer than", schema["maxLength"])
        if "contentSchema" in schema:
            if (schema.get("contentEncoding"), schema.get("contentMediaType")) != \
                    ("base64", "application/json"):
                _fail(path, "contentSchema is checked for base64 JSON only")
            check(json.loads(base64.b64decode(value, validate=True)), schema["contentSchema"],
                  root, path + "<decoded>")
    if _is(value, "integer"):
        if "minimum" in schema and value < schema["minimum"]:
            _fail(path, value, "below", schema["minimum"])
        if "maximum" in schema and value > schema["maximum"]:
            _fail(path, value, "above", schema["maximum"])
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                _fail(path, "missing", key)
        if len(value) < schema.get("minProperties", 0):
            _fail(path, "fewer properties than", schema["minProperties"])
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if "propertyNames" in schema:
                check(key, schema["propertyNames"], root, f"{path}.<{key}>")
            if key in props:
                check(item, props[key], root, f"{path}.{key}")
            elif extra is False:
                _fail(path, "undocumented key", key)
            elif isinstance(extra, dict):
                check(item, extra, root, f"{path}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            _fail(path, "fewer items than", schema["minItems"])
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            _fail(path, "more items than", schema["maxItems"])
        if "items" in schema:
            for index, item in enumerate(value):
                check(item, schema["items"], root, f"{path}[{index}]")
