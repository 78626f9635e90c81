"""``spark.catalog``: temporary views of a session, and global ones under ``global_temp``."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, NamedTuple

from ember.errors import AnalysisException

if TYPE_CHECKING:
    from ember.sql.dataframe import DataFrame
    from ember.sql.session import SparkSession

GLOBAL_TEMP_DB = "global_temp"

# Global temporary views are shared by every session of the process, as in Spark.
_global_views: dict[str, DataFrame] = {}
_global_lock = threading.Lock()


class Table(NamedTuple):
    name: str
    catalog: str | None
    namespace: list[str] | None
    description: str | None
    tableType: str
    isTemporary: bool


class Column(NamedTuple):
    name: str
    description: str | None
    dataType: str
    nullable: bool
    isPartition: bool
    isBucket: bool


class Catalog:
    def __init__(self, session: SparkSession) -> None:
        self._session = session
        self._views: dict[str, DataFrame] = {}

    # -- registering ---------------------------------------------------------------------------

    def _register(self, name: str, df: DataFrame, *, replace: bool, is_global: bool) -> None:
        key = _view_name(name)
        views = _global_views if is_global else self._views
        with _global_lock:
            if not replace and key in views:
                where = f"{GLOBAL_TEMP_DB}." if is_global else ""
                msg = (f"[TEMP_TABLE_OR_VIEW_ALREADY_EXISTS] cannot create the temporary view "
                       f"`{where}{name}` because it already exists\n\nuse "
                       "createOrReplace...View to replace it")
                raise AnalysisException(msg)
            views[key] = df

    def _lookup(self, name: str, db: str = "") -> DataFrame:
        key = name.lower()
        if db == GLOBAL_TEMP_DB:
            df = _global_views.get(key)
        elif db:
            msg = (f"[TABLE_OR_VIEW_NOT_FOUND] the table or view `{db}`.`{name}` cannot be "
                   f"found\n\nember has temporary views only; global ones live in "
                   f"`{GLOBAL_TEMP_DB}`")
            raise AnalysisException(msg)
        else:
            df = self._views.get(key)
        if df is None:
            known = sorted(self._views) + [f"{GLOBAL_TEMP_DB}.{v}" for v in sorted(_global_views)]
            msg = (f"[TABLE_OR_VIEW_NOT_FOUND] the table or view `{name}` cannot be found\n\n"
                   f"register it with df.createOrReplaceTempView('{name}'); known views: "
                   f"{known}")
            raise AnalysisException(msg)
        return df

    # -- the public API ------------------------------------------------------------------------

    def listTables(self, dbName: str | None = None, pattern: str | None = None) -> list[Table]:
        import fnmatch

        out = []
        if dbName in (None, "default"):
            out += [Table(n, None, [], None, "TEMPORARY", True) for n in sorted(self._views)]
        if dbName == GLOBAL_TEMP_DB:
            out += [Table(n, None, [GLOBAL_TEMP_DB], None, "TEMPORARY", True)
                    for n in sorted(_global_views)]
        if pattern is not None:
            out = [t for t in out if fnmatch.fnmatch(t.name, pattern.lower())]
        return out

    def listColumns(self, tableName: str, dbName: str | None = None) -> list[Column]:
        df = self._lookup(tableName, (dbName or "").lower())
        return [Column(f.name, None, f.dataType.simpleString(), f.nullable, False, False)
                for f in df.schema.fields]

    def tableExists(self, tableName: str, dbName: str | None = None) -> bool:
        db, _, name = tableName.rpartition(".")
        try:
            self._lookup(name, (dbName or db).lower())
        except AnalysisException:
            return False
        return True

    def dropTempView(self, viewName: str) -> bool:
        with _global_lock:
            return self._views.pop(viewName.lower(), None) is not None

    def dropGlobalTempView(self, viewName: str) -> bool:
        with _global_lock:
            return _global_views.pop(viewName.lower(), None) is not None

    # -- caching of views, as in Spark: the view's plan is cached like ``df.cache()`` ---------

    def _table(self, tableName: str) -> DataFrame:
        db, _, name = tableName.rpartition(".")
        return self._lookup(name, db.lower())

    def cacheTable(self, tableName: str, storageLevel: Any = None) -> None:
        self._table(tableName).persist(storageLevel)

    def uncacheTable(self, tableName: str) -> None:
        self._table(tableName).unpersist()

    def isCached(self, tableName: str) -> bool:
        return self._table(tableName).is_cached

    def clearCache(self) -> None:
        self._session._runtime().clear_cache()

    def currentDatabase(self) -> str:
        return "default"

    def currentCatalog(self) -> str:
        return "spark_catalog"

    def listDatabases(self) -> list[str]:
        return ["default"]

    def _tables_frame(self) -> DataFrame:
        rows = [("", n, True) for n in sorted(self._views)]
        return self._session.createDataFrame(
            rows, "namespace STRING, tableName STRING, isTemporary BOOLEAN")


def _view_name(name: str) -> str:
    if not name or not all(part.replace("_", "a").isalnum() for part in name.split(".")):
        msg = f"[INVALID_IDENTIFIER] {name!r} is not a valid view name"
        raise AnalysisException(msg)
    if "." in name:
        msg = (f"a temporary view name cannot be qualified: {name!r}\n\n"
               "global views are registered with createOrReplaceGlobalTempView")
        raise AnalysisException(msg)
    return name.lower()
