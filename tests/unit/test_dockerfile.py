"""The Dockerfile, read as text (no Docker here): its stages, that everything it copies exists and
is not ignored, and that each role's entrypoint is an executable script that runs that role."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINTS = {
    "operator": ("operator/entrypoint.sh", 'exec kopf run --standalone -m ember.operator "$@"'),
    "driver": ("driver_image/entrypoint.sh", 'exec ember driver "$@"'),
    "executor": ("executor_image/entrypoint.sh", 'exec ember executor "$@"'),
}


@dataclass
class Stage:
    name: str
    base: str
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination)
    entrypoint: list[str] | None = None
    user: str | None = None


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> dict[str, Stage]:
    found: dict[str, Stage] = {}
    args: dict[str, str] = {}
    current: Stage | None = None
    for keyword, rest in instructions((ROOT / "Dockerfile").read_text()):
        if keyword == "ARG" and current is None:
            key, _, value = rest.partition("=")
            args[key] = value
        elif keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base.strip())
            if base in found:
                parent = found[base]
                current = Stage(name.strip(), parent.base, list(parent.copies), parent.entrypoint,
                                parent.user)
            else:
                current = Stage(name.strip(), base)
            found[current.name] = current
        elif keyword == "COPY" and current is not None:
            words = shlex.split(rest)
            if any(word.startswith("--from") for word in words):
                continue
            paths = [word for word in words if not word.startswith("--")]
            current.copies.append((paths[:-1], paths[-1]))
        elif keyword == "ENTRYPOINT" and current is not None:
            current.entrypoint = json.loads(rest)
        elif keyword == "USER" and current is not None:
            current.user = rest
    return found


def ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path.rstrip("/")).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern) for pattern in patterns for prefix in prefixes)


def test_the_role_targets_exist_on_one_runtime():
    found = stages()
    assert {"build", "runtime", "operator", "driver", "executor"} <= set(found)
    assert found["build"].base == found["runtime"].base == "python:3.12-slim"
    for role in ("operator", "driver", "executor"):
        assert found[role].user == "1000:1000"


def test_every_copy_source_exists_and_reaches_the_build_context():
    copies = [source for stage in stages().values() for sources, _ in stage.copies for source in sources]
    assert {"pyproject.toml", "src/", "examples/"} <= set(copies)
    for source in copies:
        assert (ROOT / source).exists(), source
        assert not ignored(source), f"{source} is excluded by .dockerignore"


def test_examples_land_where_the_spark_applications_expect_them():
    runtime = stages()["runtime"]
    assert (["examples/"], "/opt/ember/examples/") in runtime.copies


@pytest.mark.parametrize("role", sorted(ENTRYPOINTS))
def test_each_target_enters_through_its_own_executable_script(role):
    stage = stages()[role]
    script, command = ENTRYPOINTS[role]
    assert stage.entrypoint is not None
    (target,) = stage.entrypoint
    (sources,) = [sources for sources, destination in stage.copies if destination == target]
    assert sources == [script]
    path = ROOT / script
    assert path.is_file() and os.access(path, os.X_OK), f"{script} must be executable (git mode 100755)"
    lines = path.read_text().splitlines()
    assert lines[0] == "#!/bin/sh"
    assert lines[-1] == command


def test_operator_folder_is_not_a_python_package():
    # It would shadow the standard library's `operator` module for anything run from the root.
    assert not (ROOT / "operator" / "__init__.py").exists()
    assert (ROOT / "operator" / "README.md").is_file()
