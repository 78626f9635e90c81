"""Object validation: custom objects against their CRD's ``openAPIV3Schema``, built-ins against the
real Kubernetes schemas (kubernetes-validate). Each function returns a list of ``(path, message)``."""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
# The Kubernetes version whose schemas validate built-in objects.
SCHEMA_VERSION = "1.32.0"

Problem = tuple[str, str]


def validate_schema(value: Any, schema: dict[str, Any], path: str = "") -> list[Problem]:
    """Check ``value`` against a structural OpenAPI v3 schema: types, required, enum, bounds, pattern."""
    problems: list[Problem] = []
    if value is None:
        if not schema.get("nullable"):
            problems.append((path, "Invalid value: null"))
        return problems
    if (
        schema.get("x-kubernetes-int-or-string")
        and isinstance(value, (int, str))
        and not isinstance(value, bool)
    ):
        return problems
    expected = schema.get("type")
    if expected in _TYPES:
        ok = isinstance(value, _TYPES[expected]) and not (
            isinstance(value, bool) and expected in ("integer", "number")
        )
        if not ok:
            problems.append(
                (
                    path,
                    f"Invalid value: {value!r}: {path or 'body'} in body must be of type "
                    f'{expected}: "{type(value).__name__}"',
                )
            )
            return problems
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{v}"' for v in schema["enum"])
        problems.append((path, f"Unsupported value: {value!r}: supported values: {allowed}"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(
                (path, f"Invalid value: {value}: should be greater than or equal to {schema['minimum']}")
            )
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(
                (path, f"Invalid value: {value}: should be less than or equal to {schema['maximum']}")
            )
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append((path, f"Invalid value: {value!r}: should match '{schema['pattern']}'"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(
                (path, f"Invalid value: {value!r}: should be at least {schema['minLength']} chars")
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append((path, f"Too long: may not be longer than {schema['maxLength']}"))
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in value:
                problems.append((f"{path}.{name}" if path else name, "Required value"))
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub_path = f"{path}.{key}" if path else key
            if key in properties:
                problems += validate_schema(item, properties[key], sub_path)
            elif isinstance(extra, dict):
                problems += validate_schema(item, extra, sub_path)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problems += validate_schema(item, schema["items"], f"{path}[{index}]")
    return problems


def prune(value: Any, schema: dict[str, Any]) -> None:
    """Drop, in place, the fields a structural schema does not declare, as the API server does.

    ``x-kubernetes-preserve-unknown-fields`` and ``additionalProperties`` keep unknown fields.
    """
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            prune(item, schema["items"])
    if not isinstance(value, dict):
        return
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
    for key in list(value):
        if key in properties:
            prune(value[key], properties[key])
        elif isinstance(extra, dict):
            prune(value[key], extra)
        elif not keep_unknown and (properties or schema.get("type") == "object"):
            del value[key]


def prune_custom(obj: dict[str, Any], schema: dict[str, Any] | None) -> None:
    """Prune a custom object in place; ``metadata``, ``apiVersion`` and ``kind`` are always kept."""
    if not schema:
        return
    properties = schema.get("properties") or {}
    for key in list(obj):
        if key in ("metadata", "apiVersion", "kind"):
            continue
        if key in properties:
            prune(obj[key], properties[key])
        elif not schema.get("x-kubernetes-preserve-unknown-fields"):
            del obj[key]


def validate_custom(obj: dict[str, Any], schema: dict[str, Any] | None) -> list[Problem]:
    """Validate a custom object; ``metadata``, ``apiVersion`` and ``kind`` are the server's business."""
    if not schema:
        return []
    body = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    trimmed = dict(schema)
    trimmed["properties"] = {
        k: v
        for k, v in (schema.get("properties") or {}).items()
        if k not in ("metadata", "apiVersion", "kind")
    }
    trimmed["required"] = [
        r for r in schema.get("required") or [] if r not in ("metadata", "apiVersion", "kind")
    ]
    return validate_schema(body, trimmed)


def validate_builtin(obj: dict[str, Any]) -> list[Problem]:
    """Validate a built-in object against the real Kubernetes schema of its kind."""
    import kubernetes_validate
    from kubernetes_validate import utils as kv_utils

    try:
        kubernetes_validate.validate(obj, SCHEMA_VERSION, strict=False)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.absolute_path)
        return [(path, error.message)]
    except (
        kubernetes_validate.SchemaNotFoundError,
        kubernetes_validate.InvalidSchemaError,
        kv_utils.VersionNotSupportedError,
    ):
        return []  # kinds without a published schema are accepted as they are
    return []
