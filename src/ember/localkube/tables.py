"""Server-side ``Table`` responses (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``).

kubectl asks for these to print ``kubectl get``; custom resources get their CRD's
``additionalPrinterColumns``.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from ember.localkube.resources import ResourceType


def wants_table(accept: str) -> bool:
    first = accept.split(",")[0]
    return "as=Table" in first


def human_age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return timestamp
    seconds = max(0, int((datetime.datetime.now(tz=datetime.UTC) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2 or (unit == "m" and seconds >= 120):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def json_path(obj: Any, path: str) -> Any:
    """Evaluate the simple JSONPath forms printer columns use: ``.a.b``, ``.a[0].b``, ``.a['k.x']``."""
    value = obj
    for match in re.finditer(r"\.([^.\[]+)|\[(\d+)\]|\['([^']+)'\]", path):
        name, index, quoted = match.groups()
        if index is not None:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        else:
            value = value.get(name or quoted) if isinstance(value, dict) else None
        if value is None:
            return None
    return value


def _cell(value: Any, column_type: str) -> Any:
    if value is None:
        return None
    if column_type == "date":
        return human_age(str(value))
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, separators=(",", ":"))
    return value


def _pod_cells(pod: dict[str, Any]) -> list[Any]:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    phase = status.get("phase", "Unknown")
    if pod["metadata"].get("deletionTimestamp"):
        phase = "Terminating"
    for s in statuses:
        state = s.get("state") or {}
        reason = (state.get("waiting") or state.get("terminated") or {}).get("reason")
        if reason and phase not in ("Terminating",):
            phase = reason
    return [f"{ready}/{total}", phase, restarts]


def columns_and_cells(rt: ResourceType) -> tuple[list[dict[str, Any]], Any]:
    """The column definitions of a resource type and a function from an object to its cells."""

    def column(
        name: str, kind: str = "string", description: str = "", priority: int = 0, fmt: str = ""
    ) -> dict[str, Any]:
        return {"name": name, "type": kind, "format": fmt, "description": description, "priority": priority}

    name_column = column("Name", fmt="name", description="Name of the object")
    age_column = column("Age", description="Time since creation")
    if rt.key == ("", "v1", "pods"):
        columns = [name_column, column("Ready"), column("Status"), column("Restarts", "integer"), age_column]
        return columns, lambda obj: [
            obj["metadata"]["name"],
            *_pod_cells(obj),
            human_age(obj["metadata"].get("creationTimestamp")),
        ]
    if not rt.builtin:
        extra = rt.printer_columns
        columns = (
            [name_column]
            + [
                column(
                    c["name"],
                    c.get("type", "string"),
                    c.get("description", ""),
                    c.get("priority", 0),
                    c.get("format", ""),
                )
                for c in extra
            ]
            + ([] if any(c.get("jsonPath") == ".metadata.creationTimestamp" for c in extra) else [age_column])
        )

        def cells(obj: dict[str, Any]) -> list[Any]:
            row = [obj["metadata"]["name"]]
            row += [_cell(json_path(obj, c.get("jsonPath", "")), c.get("type", "string")) for c in extra]
            if len(row) < len(columns):
                row.append(human_age(obj["metadata"].get("creationTimestamp")))
            return row

        return columns, cells
    return [name_column, age_column], lambda obj: [
        obj["metadata"]["name"],
        human_age(obj["metadata"].get("creationTimestamp")),
    ]


def to_table(rt: ResourceType, objects: list[dict[str, Any]], resource_version: str) -> dict[str, Any]:
    columns, cells = columns_and_cells(rt)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": [{"cells": cells(obj), "object": obj} for obj in objects],
    }
