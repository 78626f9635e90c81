"""PySpark-compatible SQL and DataFrame API: ``from ember.sql import SparkSession``."""

from typing import Any

from ember.errors import AnalysisException, ParseException
from ember.sql.column import Column
from ember.sql.dataframe import DataFrame
from ember.sql.group import GroupedData
from ember.sql.row import Row
from ember.sql.session import SparkSession

_LAZY = {
    "Window": ("ember.sql.window", "Window"),
    "WindowSpec": ("ember.sql.window", "WindowSpec"),
    "Catalog": ("ember.sql.catalog", "Catalog"),
    "DataFrameReader": ("ember.sql.readwriter", "DataFrameReader"),
    "DataFrameWriter": ("ember.sql.readwriter", "DataFrameWriter"),
    "functions": ("ember.sql.functions", None),
    "types": ("ember.sql.types", None),
    "window": ("ember.sql.window", None),
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    msg = f"module 'ember.sql' has no attribute {name!r}: ember does not support it yet"
    raise AttributeError(msg)


__all__ = [
    "AnalysisException",
    "Column",
    "DataFrame",
    "GroupedData",
    "ParseException",
    "Row",
    "SparkSession",
]
