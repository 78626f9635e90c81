"""Label and field selectors, parsed and matched the way the Kubernetes API server does.

Label selectors accept equality (``a=b``, ``a==b``, ``a!=b``) and set-based requirements
(``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``), comma-separated. Field selectors accept
``path=value``, ``path==value`` and ``path!=value`` for a few well-known paths.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Matcher = Callable[[Mapping[str, Any]], bool]

_SET_RE = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([\w./-]+)\s*(==|!=|=)\s*([\w./-]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*$")

SUPPORTED_FIELDS = (
    "metadata.name", "metadata.namespace", "status.phase", "spec.nodeName",
    # Events' field labels, as ``kubectl describe`` and ``kubectl get events --field-selector``
    # use them.
    "involvedObject.kind", "involvedObject.name", "involvedObject.namespace",
    "involvedObject.uid", "reason", "type",
)


class SelectorError(ValueError):
    """A selector that cannot be parsed."""


def _split_requirements(text: str) -> list[str]:
    # Commas separate requirements, except inside the parentheses of a set.
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def _label_requirement(text: str) -> Callable[[Mapping[str, str]], bool]:
    if match := _SET_RE.match(text):
        key, op, raw_values = match.groups()
        values = {value.strip() for value in raw_values.split(",") if value.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQ_RE.match(text):
        key, op, value = match.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS_RE.match(text):
        negated, key = match.groups()
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    msg = f"unable to parse requirement: {text!r}"
    raise SelectorError(msg)


def parse_label_selector(text: str | None) -> Matcher:
    """Return a predicate over objects for a ``labelSelector`` query parameter.

    >>> matches = parse_label_selector("app=web,tier in (a,b),!canary")
    >>> matches({"metadata": {"labels": {"app": "web", "tier": "a"}}})
    True
    """
    requirements = [_label_requirement(part) for part in _split_requirements(text or "")]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(requirement(labels) for requirement in requirements)

    return matches


def field_value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def parse_field_selector(text: str | None) -> Matcher:
    """Return a predicate over objects for a ``fieldSelector`` query parameter."""
    requirements: list[tuple[str, bool, str]] = []
    for part in _split_requirements(text or ""):
        match = _EQ_RE.match(part)
        if match is None:
            msg = f"invalid field selector: {part!r}"
            raise SelectorError(msg)
        path, op, value = match.groups()
        if path not in SUPPORTED_FIELDS:
            msg = f'field label not supported: "{path}"'
            raise SelectorError(msg)
        requirements.append((path, op != "!=", value))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, path) == value) == equal for path, equal, value in requirements)

    return matches
