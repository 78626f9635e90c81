"""The layers of STYLE.md, checked on the source: the plan and exec layers (and the sans-IO
schedulers) never import web frameworks, Kubernetes clients or the layers above them."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ember"

FORBIDDEN = {
    "plan": ("fastapi", "starlette", "uvicorn", "pydantic", "kubernetes", "kopf", "aiohttp",
             "ember.sql", "ember.driver", "ember.executor", "ember.operator", "ember.k8s"),
    "exec": ("fastapi", "starlette", "uvicorn", "pydantic", "kubernetes", "kopf",
             "ember.sql", "ember.plan.analyzer", "ember.plan.optimizer", "ember.plan.physical",
             "ember.driver", "ember.executor", "ember.operator", "ember.k8s"),
    "scheduler": ("fastapi", "starlette", "uvicorn", "pydantic", "kubernetes", "kopf",
                  "aiohttp", "ember.sql", "ember.driver", "ember.executor"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    offences = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer]):
                offences.append(f"{path.relative_to(SRC)} imports {name}")
    assert offences == []


@pytest.mark.parametrize("module", [
    "ember.sql.functions", "ember.sql.show_format", "ember.exec.java_format",
    "ember.exec.hashing", "ember.sql.row", "ember.sql.types", "ember.exec.shuffle_files",
    "ember.sql.conversion",
])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
