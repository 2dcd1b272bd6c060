#!/usr/bin/env python3
"""A small JSON Schema validator (the subset docs/agent-status.schema.json
uses: type, const, enum, required, properties, additionalProperties: false,
items, maxItems, minimum, pattern, oneOf, local $ref), since no schema
package is installed. Prints every violation with its path; exits 1 if any.

Usage: schema_check.py SCHEMA DOCUMENT
"""
import json
import re
import sys

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
KNOWN = {"$schema", "$id", "title", "description", "type", "const", "enum", "required",
         "properties", "additionalProperties", "items", "maxItems", "minimum", "pattern",
         "oneOf", "$ref", "$defs"}


def check(root, schema, value, path, errors):
    unknown = set(schema) - KNOWN
    if unknown:
        raise SystemExit("schema_check: unsupported keywords %s at %s" % (sorted(unknown), path))
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        check(root, node, value, path, errors)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[t](value) for t in types):
            errors.append("%s: %r is not %s" % (path, value, "/".join(types)))
            return
    if "const" in schema and value != schema["const"]:
        errors.append("%s: %r is not %r" % (path, value, schema["const"]))
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r is not one of %r" % (path, value, schema["enum"]))
    if "minimum" in schema and isinstance(value, int) and value < schema["minimum"]:
        errors.append("%s: %r is below %r" % (path, value, schema["minimum"]))
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append("%s: %r does not match %s" % (path, value, schema["pattern"]))
    if "oneOf" in schema:
        matches = 0
        for sub in schema["oneOf"]:
            sub_errors = []
            check(root, sub, value, path, sub_errors)
            matches += not sub_errors
        if matches != 1:
            errors.append("%s: matches %d of the oneOf alternatives, not 1" % (path, matches))
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append("%s: %s is missing" % (path, key))
        props = schema.get("properties", {})
        for key, sub in value.items():
            if key in props:
                check(root, props[key], sub, path + "." + key, errors)
            elif schema.get("additionalProperties", True) is False:
                errors.append("%s: %s is not in the schema" % (path, key))
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append("%s: %d items, more than %d" % (path, len(value), schema["maxItems"]))
        if "items" in schema:
            for i, item in enumerate(value):
                check(root, schema["items"], item, "%s[%d]" % (path, i), errors)


schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
errors = []
check(schema, schema, doc, "$", errors)
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
