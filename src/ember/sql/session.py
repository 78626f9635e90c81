"""``SparkSession``: the entry point, built as in PySpark.

>>> spark = SparkSession.builder.master("local[2]").appName("demo").getOrCreate()  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ember.core.conf import SparkConf
from ember.errors import AnalysisException
from ember.plan.expressions import AttributeReference
from ember.plan.logical import LocalRelation, Range

if TYPE_CHECKING:
    from ember.core.context import SparkContext
    from ember.driver.runtime import DriverRuntime
    from ember.sql.dataframe import DataFrame
    from ember.sql.readwriter import DataFrameReader


class RuntimeConfig:
    """``spark.conf``: get and set settings of a running session."""

    def __init__(self, conf: SparkConf) -> None:
        self._conf = conf

    def set(self, key: str, value: Any) -> None:
        self._conf.set(key, value)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._conf.get(key, default)

    def unset(self, key: str) -> None:
        self._conf.unset(key)

    def isModifiable(self, key: str) -> bool:
        return key.startswith("spark.sql.")


class _Builder:
    def __init__(self) -> None:
        self._options: dict[str, str] = {}

    def master(self, master: str) -> _Builder:
        return self.config("spark.master", master)

    def appName(self, name: str) -> _Builder:
        return self.config("spark.app.name", name)

    def config(self, key: str | None = None, value: Any = None, conf: SparkConf | None = None,
               *, map: dict[str, Any] | None = None) -> _Builder:
        if conf is not None:
            for k, v in conf.getAll():
                self._options[k] = v
        if map is not None:
            for k, v in map.items():
                self.config(k, v)
        if key is not None:
            self._options[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return self

    def enableHiveSupport(self) -> _Builder:
        return self

    def getOrCreate(self) -> SparkSession:
        with SparkSession._lock:
            active = SparkSession._active
            if active is not None and not active._stopped:
                for k, v in self._options.items():
                    active.conf.set(k, v)
                return active
            conf = SparkConf()
            for k, v in self._options.items():
                conf.set(k, v)
            session = SparkSession(conf)
            SparkSession._active = session
            return session

    create = getOrCreate


class _BuilderDescriptor:
    def __get__(self, obj: Any, owner: Any) -> _Builder:
        return _Builder()


class SparkSession:
    """The entry point to DataFrames: create, read, and run them."""

    builder = _BuilderDescriptor()
    _lock = threading.RLock()
    _active: SparkSession | None = None

    def __init__(self, conf: SparkConf) -> None:
        from ember.driver.runtime import DriverRuntime

        self._conf = conf
        self.conf = RuntimeConfig(conf)
        self._stopped = False
        from ember.sql.catalog import Catalog

        self.catalog = Catalog(self)
        self._driver: DriverRuntime = DriverRuntime(conf)

    @classmethod
    def getActiveSession(cls) -> SparkSession | None:
        active = cls._active
        return active if active is not None and not active._stopped else None

    def _runtime(self) -> DriverRuntime:
        if self._stopped:
            msg = ("this SparkSession has been stopped\n\n"
                   "create a new one with SparkSession.builder.getOrCreate()")
            raise AnalysisException(msg)
        return self._driver

    def _shuffle_partitions(self) -> int:
        return self._conf.get_int("spark.sql.shuffle.partitions")

    @property
    def sparkContext(self) -> SparkContext:
        from ember.core.context import SparkContext

        self._runtime()  # refuses a stopped session
        sc = self.__dict__.get("_spark_context")
        if sc is None:
            with SparkSession._lock:
                sc = self.__dict__.setdefault("_spark_context", SparkContext._for_session(self))
        return sc

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return version("ember")

    @property
    def read(self) -> DataFrameReader:
        from ember.sql.readwriter import DataFrameReader

        return DataFrameReader(self)

    def range(self, start: int, end: int | None = None, step: int = 1,
              numPartitions: int | None = None) -> DataFrame:
        from ember.sql.dataframe import DataFrame

        if end is None:
            start, end = 0, start
        # PySpark hands int() of each bound to the JVM, so 10.0 works as 10.
        start, end, step = int(start), int(end), int(step)
        if step == 0:
            msg = "range() step must not be 0"
            raise ValueError(msg)
        n = int(numPartitions) if numPartitions else self._runtime().default_parallelism
        attr = AttributeReference("id", pa.int64(), False)
        return DataFrame(Range(start, end, step, n, attr), self)

    def createDataFrame(self, data: Any, schema: Any = None, samplingRatio: float | None = None,
                        verifySchema: bool = True) -> DataFrame:
        """Create a DataFrame from rows (tuples, lists, Rows, dicts), pandas or pyarrow.

        ``schema`` is a StructType, a DDL string (``"a INT, b STRING"``), a list of column names,
        or None to infer it from the data.
        """
        from ember.core.rdd import RDD, to_dataframe
        from ember.sql.dataframe import DataFrame

        if isinstance(data, RDD):
            return to_dataframe(self, data, schema, samplingRatio)
        table = _to_arrow(data, schema)
        attrs = tuple(AttributeReference(f.name, f.type, f.nullable) for f in table.schema)
        parts = _split(table, self._runtime().default_parallelism)
        return DataFrame(LocalRelation(attrs, parts), self)

    def table(self, tableName: str) -> DataFrame:
        """A temporary view by name (``global_temp.name`` for a global one)."""
        db, _, name = tableName.rpartition(".")
        return self.catalog._lookup(name, db.lower())

    def sql(self, sqlQuery: str, args: dict[str, Any] | None = None, **kwargs: Any) -> DataFrame:
        """Run a SQL query over temporary views, e.g. ``spark.sql("SELECT * FROM people")``."""
        from ember.sql.parser import sql

        return sql(self, sqlQuery, args)

    def newSession(self) -> SparkSession:
        """A session sharing this one's executors and global views, with its own temporary
        views and SQL settings."""
        session = SparkSession.__new__(SparkSession)
        session._conf = self._conf.copy()
        session.conf = RuntimeConfig(session._conf)
        session._stopped = False
        session._driver = self._driver
        from ember.sql.catalog import Catalog

        session.catalog = Catalog(session)
        return session

    def stop(self) -> None:
        with SparkSession._lock:
            if not self._stopped:
                self._stopped = True
                self._driver.stop()
            if SparkSession._active is self:
                SparkSession._active = None

    def __enter__(self) -> SparkSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _split(table: pa.Table, parallelism: int) -> tuple[pa.Table, ...]:
    n = max(1, min(parallelism, table.num_rows))
    rows = table.num_rows
    return tuple(table.slice(rows * i // n, rows * (i + 1) // n - rows * i // n)
                 for i in range(n))


def _to_arrow(data: Any, schema: Any) -> pa.Table:
    from ember.sql import types as T
    from ember.sql.conversion import infer_schema, rows_to_arrow
    from ember.sql.readwriter import _normalise_type

    if isinstance(schema, str):
        parsed = T.parse_ddl(schema)
        schema = parsed if isinstance(parsed, T.StructType) else T.StructType(
            [T.StructField("value", parsed, True)])
    elif isinstance(schema, T.DataType) and not isinstance(schema, T.StructType):
        schema = T.StructType([T.StructField("value", schema, True)])
    names = list(schema) if isinstance(schema, list | tuple) else None
    struct = schema if isinstance(schema, T.StructType) else None
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if _is_pandas(data):
        data = pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, pa.Table):
        table = data
        table = table.cast(pa.schema([pa.field(f.name, _normalise_type(f.type), f.nullable)
                                      for f in table.schema]))
        if struct is not None:
            if len(struct.fields) != table.num_columns:
                msg = (f"the schema has {len(struct.fields)} fields but the data has "
                       f"{table.num_columns} columns")
                raise AnalysisException(msg)
            table = table.rename_columns(struct.names).cast(T.to_arrow_schema(struct))
        if names is not None:
            if len(names) != table.num_columns:
                msg = f"{len(names)} column names were given for {table.num_columns} columns"
                raise AnalysisException(msg)
            table = table.rename_columns(names)
    else:
        rows = list(data)
        inferred = struct is None
        if struct is None:
            struct = infer_schema(rows, names=names)
        # An inferred schema fits the data by construction (mixed values widen to string).
        # It also carries the given names; columns past them keep ``_2``, ``_3``... as in PySpark.
        table = rows_to_arrow(rows, struct, verify_schema=not inferred)
    return table


def _is_pandas(data: Any) -> bool:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        return False
    return isinstance(data, pd.DataFrame)
