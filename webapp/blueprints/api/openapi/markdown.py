"""docs/api.md, rendered from the OpenAPI document so that the two cannot drift apart (a test
compares the file with this rendering)."""

HEADER = """# Tocsin API reference

<!-- Generated from the OpenAPI document: python -m webapp.blueprints.api.openapi --markdown > docs/api.md
     (tests/api/test_openapi.py fails when this file and the document differ). Do not edit by hand. -->

The machine-readable document is served at `GET /api/v1/openapi.json` (OpenAPI 3.1, no API key needed).
All paths below are under `/api/v1`.

"""


def _name(reference: str) -> str:
    return reference.rsplit("/", 1)[-1]


def type_words(schema: dict) -> str:
    """A schema in a few words: `integer 1–30`, `string or null`, `one of: a, b`, `[Rule]`."""
    if "$ref" in schema:
        return f"[{_name(schema['$ref'])}](#{_name(schema['$ref']).lower()})"
    if "oneOf" in schema:
        return " or ".join(type_words(option) for option in schema["oneOf"])
    kinds = schema.get("type", "any")
    kinds = list(kinds) if isinstance(kinds, list) else [kinds]
    words = " or ".join(kinds)
    if "enum" in schema:
        words = "one of: " + ", ".join("null" if value is None else f"`{value}`" for value in schema["enum"])
    elif kinds[0] == "array":
        words = f"list of {type_words(schema.get('items', {}))}"
    elif kinds[0] == "object" and isinstance(schema.get("additionalProperties"), dict):
        words = f"object of {type_words(schema['additionalProperties'])}" + (" or null" if "null" in kinds else "")
    low, high = schema.get("minimum", schema.get("minLength")), schema.get("maximum", schema.get("maxLength"))
    if high is not None and high < 2**62:
        words += f" ({low or 0}–{high}{' characters' if 'maxLength' in schema else ''})"
    elif low:
        words += f" (≥ {low})"
    if "default" in schema:
        words += f", default `{schema['default']}`"
    return words


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def fields_table(schema: dict) -> list[str]:
    required = set(schema.get("required", []))
    lines = ["| Field | Type | Required | Notes |", "|---|---|---|---|"]
    for name, field in schema.get("properties", {}).items():
        lines.append(f"| `{name}` | {_cell(type_words(field))} | {'yes' if name in required else ''} | "
                     f"{_cell(field.get('description', ''))} |")
    return lines


def _operation(method: str, path: str, operation: dict, schemas: dict, shared: list) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "", operation["summary"] + ".", ""]
    if operation.get("description"):
        lines += [operation["description"], ""]
    if operation.get("security") == []:
        lines += ["No API key needed.", ""]
    parameters = shared + operation.get("parameters", [])
    if parameters:
        lines += ["| Parameter | In | Type | Notes |", "|---|---|---|---|"]
        lines += [f"| `{parameter['name']}` | {parameter['in']} | {_cell(type_words(parameter['schema']))} | "
                  f"{_cell(parameter.get('description', ''))} |" for parameter in parameters]
        lines.append("")
    body = operation.get("requestBody")
    if body:
        name = _name(body["content"]["application/json"]["schema"]["$ref"])
        optional = "" if body["required"] else " (optional)"
        lines += [f"Body{optional}: a JSON object (`{name}`); other fields are refused.", ""]
        lines += fields_table(schemas[name]) + [""]
    lines.append("Answers:")
    for status, answer in operation["responses"].items():
        content = answer.get("content", {}).get("application/json", {}).get("schema")
        shape = f" {type_words(content)}" if content else ""
        lines.append(f"- `{status}`{shape}: {answer['description']}")
    return lines + [""]


def render(document: dict) -> str:
    schemas = document["components"]["schemas"]
    lines = [HEADER.rstrip("\n"), "", document["info"]["description"], ""]
    for tag in (tag["name"] for tag in document["tags"]):
        lines += [f"## {tag}", ""]
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if method != "parameters" and operation["tags"] == [tag]:
                    lines += _operation(method, path, operation, schemas, item.get("parameters", []))
    lines += ["## Schemas", "", "Every answer has all of its fields (null where a value is missing).", ""]
    for name, schema in schemas.items():
        if "properties" in schema and not name.endswith(("Create", "Update")) and name not in (
                "RunReport", "RunFinish", "Acknowledge"):
            lines += [f"### {name}", ""]
            if schema.get("description"):
                lines += [schema["description"], ""]
            lines += fields_table(schema) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
