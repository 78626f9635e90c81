"""An import hook that makes ``import pyspark...`` load ember, for one ``ember submit`` run.

Only the names below resolve; any other ``pyspark`` module fails to import with a message that
names it and says ember does not support it yet. The hook is installed by ``ember submit``
and never affects other programs, including a real pyspark installed next to ember.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

ALIASES: dict[str, str] = {
    "pyspark": "ember.compat.pyspark_root",
    "pyspark.sql": "ember.sql",
    "pyspark.sql.functions": "ember.sql.functions",
    "pyspark.sql.types": "ember.sql.types",
    "pyspark.sql.window": "ember.sql.window",
    "pyspark.sql.column": "ember.sql.column",
    "pyspark.sql.dataframe": "ember.sql.dataframe",
    "pyspark.sql.session": "ember.sql.session",
    "pyspark.sql.group": "ember.sql.group",
    "pyspark.sql.readwriter": "ember.sql.readwriter",
    "pyspark.sql.catalog": "ember.sql.catalog",
    "pyspark.sql.utils": "ember.errors",
    "pyspark.errors": "ember.errors",
    "pyspark.conf": "ember.core.conf",
    "pyspark.context": "ember.core.context",
    "pyspark.rdd": "ember.core.rdd",
    "pyspark.storagelevel": "ember.core.storagelevel",
}


class UnsupportedPySparkModule(ModuleNotFoundError):
    """A pyspark module ember does not provide."""


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The ember module is already executed."""


class PySparkAliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "pyspark" and not fullname.startswith("pyspark."):
            return None
        alias = ALIASES.get(fullname)
        if alias is None:
            supported = ", ".join(sorted(ALIASES))
            msg = (f"ember does not support {fullname} yet; it runs programs that use "
                   f"{supported}\n\nsee docs/compat.md for the supported surface")
            raise UnsupportedPySparkModule(msg, name=fullname)
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(alias),
                                              is_package=fullname in {"pyspark", "pyspark.sql"})


_finder = PySparkAliasFinder()


def install() -> None:
    """Route ``pyspark`` imports to ember, ahead of any installed pyspark."""
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    for name in [m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")]:
        del sys.modules[name]


def uninstall() -> None:
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in [m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")]:
        del sys.modules[name]
