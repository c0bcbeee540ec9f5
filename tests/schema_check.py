"""A small JSON Schema checker for the subset docs/manifest.schema.json uses."""
from __future__ import annotations

import re

TYPES = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool,
         "null": type(None)}


def check(value, schema, root=None, path="$"):
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return check(value, root["$defs"][name], root, path)
    if "const" in schema:
        assert value == schema["const"], path
    if "enum" in schema:
        assert value in schema["enum"], (path, value)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(value, TYPES[k]) and not (k == "integer" and isinstance(value, bool))
                 for k in kinds)
        assert ok, (path, value, kinds)
    if isinstance(value, str) and "pattern" in schema:
        assert re.search(schema["pattern"], value), (path, value)
    if isinstance(value, int) and not isinstance(value, bool) and "minimum" in schema:
        assert value >= schema["minimum"], path
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, (path, key)
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(props), (path, set(value) - set(props))
        for key, sub in props.items():
            if key in value:
                check(value[key], sub, root, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            check(item, schema["items"], root, f"{path}[{index}]")
