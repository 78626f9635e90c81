"""What ``import pyspark`` gives a program run by ``ember submit``."""

from __future__ import annotations

from typing import Any

from ember.core.conf import SparkConf as SparkConf
from ember.core.storagelevel import StorageLevel as StorageLevel

__version__ = "4.0.0"  # the PySpark API generation ember follows

_LAZY = {
    "SparkContext": ("ember.core.context", "SparkContext"),
    "RDD": ("ember.core.rdd", "RDD"),
    "sql": ("ember.sql", None),
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    msg = f"ember does not support pyspark.{name} yet\n\nsee docs/compat.md"
    raise AttributeError(msg)


