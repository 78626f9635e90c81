"""docs/compat.md is true: what it lists as supported imports under the pyspark names, and
what it lists as not yet fails with a clear message."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from ember.compat import pyspark_alias

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `([^`]+)` \| (supported|not yet) \|$")


def _rows() -> list[tuple[str, str, str]]:
    section = ""
    out = []
    for line in (ROOT / "docs" / "compat.md").read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip().replace("`", "")
        m = ROW.match(line)
        if m:
            out.append((section, m.group(1), m.group(2)))
    return out


ROWS = _rows()


@pytest.fixture(autouse=True)
def hook():  # type: ignore[no-untyped-def]
    pyspark_alias.install()
    yield
    pyspark_alias.uninstall()


def _resolve(section: str, name: str) -> object:
    if section.endswith(" methods"):
        cls_name, member = name.split(".", 1)
        module = "pyspark.sql" if cls_name not in {"SparkContext", "RDD"} else "pyspark"
        return getattr(getattr(importlib.import_module(module), cls_name), member)
    if section.startswith("Modules"):
        return importlib.import_module(name)
    return getattr(importlib.import_module(section), name)


@pytest.mark.parametrize(("section", "name"),
                         [(s, n) for s, n, st in ROWS if st == "supported"],
                         ids=[f"{s}:{n}" for s, n, st in ROWS if st == "supported"])
def test_supported_names_import(section: str, name: str) -> None:
    assert _resolve(section, name) is not None


@pytest.mark.parametrize(("section", "name"),
                         [(s, n) for s, n, st in ROWS if st == "not yet"],
                         ids=[f"{s}:{n}" for s, n, st in ROWS if st == "not yet"])
def test_missing_features_say_so(section: str, name: str, spark) -> None:  # type: ignore[no-untyped-def]
    if section.startswith("DataFrame"):
        df = spark.range(1)
        with pytest.raises(AttributeError, match="not supported by ember yet"):
            getattr(df, name.split(".", 1)[1])
        return
    with pytest.raises(ImportError, match="does not support"):
        _resolve(section, name)


def test_the_table_lists_everything_ember_provides() -> None:
    spec = importlib.util.spec_from_file_location("compat_table",
                                                  ROOT / "scripts" / "compat_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "compat.md").read_text() == module.render(), \
        "docs/compat.md is out of date: run python scripts/compat_table.py"
