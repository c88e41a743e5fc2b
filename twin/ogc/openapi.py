"""The API definition as OpenAPI 3.0, which OGC API – Features asks for, from FastAPI's OpenAPI 3.1 document.

The two differ in how JSON Schema says a few things; this rewrites those: `anyOf [X, null]` and type lists →
`nullable`, numeric `exclusiveMinimum`/`exclusiveMaximum` → booleans, `const` → one-value `enum`, schema
`examples` lists → `example`, and drops 3.1-only members.
"""

from __future__ import annotations

from typing import Any

OPENAPI_VERSION = "3.0.3"
_DROP = {"$schema", "contentMediaType", "contentEncoding", "prefixItems", "unevaluatedProperties", "$id"}


def _schema(node: dict[str, Any]) -> dict[str, Any]:
    node = {k: v for k, v in node.items() if k not in _DROP}
    for union in ("anyOf", "oneOf"):
        options = node.get(union)
        if isinstance(options, list) and any(o == {"type": "null"} for o in options):
            rest = [o for o in options if o != {"type": "null"}]
            node["nullable"] = True
            if len(rest) == 1 and "$ref" not in rest[0]:
                del node[union]
                node = {**rest[0], **node}
            elif len(rest) == 1:
                node[union] = rest
            else:
                node[union] = rest
    kind = node.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if t != "null"]
        if len(types) != len(kind):
            node["nullable"] = True
        if len(types) == 1:
            node["type"] = types[0]
        else:
            del node["type"]
            node["anyOf"] = [{"type": t} for t in types]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[plain] = node[bound]
            node[bound] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list):
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    if "nullable" in node and "type" not in node and "$ref" not in node and not any(
            k in node for k in ("anyOf", "oneOf", "allOf")):
        del node["nullable"]
    return node


def _walk(node: Any, in_schema: bool) -> Any:
    if isinstance(node, list):
        return [_walk(item, in_schema) for item in node]
    if not isinstance(node, dict):
        return node
    if in_schema:
        node = _schema(node)
    converted: dict[str, Any] = {}
    for key, value in node.items():
        if in_schema and key in ("properties", "patternProperties", "$defs", "definitions"):
            converted[key] = {name: _walk(sub, True) for name, sub in value.items()}
        elif key == "schema" or (in_schema and key in ("items", "additionalProperties", "not", "anyOf", "oneOf",
                                                        "allOf")):
            converted[key] = _walk(value, True)
        elif key == "schemas" and not in_schema:
            converted[key] = {name: _walk(sub, True) for name, sub in value.items()}
        else:
            converted[key] = _walk(value, in_schema)
    return converted


def _unique_operation_ids(paths: dict[str, Any]) -> None:
    """Routes serving several methods (GET and HEAD) get one id per method, as OpenAPI requires."""
    seen: set[str] = set()
    for path_item in paths.values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            name = operation["operationId"]
            if name in seen:
                name = operation["operationId"] = f"{name}_{method}"
            seen.add(name)


def to_openapi30(document: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.0.3 document saying what the given OpenAPI 3.1 document says."""
    converted: dict[str, Any] = _walk({k: v for k, v in document.items()
                                       if k not in ("webhooks", "jsonSchemaDialect")}, False)
    converted["openapi"] = OPENAPI_VERSION
    _unique_operation_ids(converted.get("paths", {}))
    info = converted.get("info", {})
    info.pop("summary", None)
    if isinstance(info.get("license"), dict):
        info["license"].pop("identifier", None)
    return converted


ITEMS_PATH = "/collections/{collectionId}/items"


def ogc_document(document: dict[str, Any], prefix: str, root: str, base: str,
                 properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Root an OpenAPI 3.0 document at the OGC landing page (`root`, serving `prefix`): its paths become
    relative to it, every other path keeps the server root through a path-level `servers`; and each collection
    gets its own items path whose parameters include its property filters (`properties`: name → JSON Schema)."""
    paths: dict[str, Any] = {}
    for path, item in document.get("paths", {}).items():
        if path == prefix or path.startswith(prefix + "/"):
            paths[path[len(prefix):] or "/"] = item
        else:
            paths[path] = {**item, "servers": [{"url": base}]}
    generic = paths.get(ITEMS_PATH, {}).get("get")
    if generic is not None:
        standard = [p for p in generic.get("parameters", []) if p.get("in") == "query"]
        known = {p["name"] for p in standard}
        for collection, schemas in properties.items():
            filters = [{"name": name, "in": "query", "required": False, "style": "form", "explode": False,
                        "description": schema.get("description", "property filter: equal to this value"),
                        "schema": {"type": schema["type"]} if schema.get("type") in ("string", "number", "boolean")
                        else {"type": "string"}}
                       for name, schema in schemas.items() if name not in known]
            operation = {**generic, "parameters": standard + filters,
                         "operationId": f"{generic.get('operationId', 'items')}_{_identifier(collection)}",
                         "summary": f"Objects of {collection}"}
            paths[f"/collections/{collection}/items"] = {"get": operation}
    return {**document, "servers": [{"url": root}], "paths": paths}


def _identifier(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)
