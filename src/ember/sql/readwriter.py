"""``spark.read`` and ``df.write``: parquet, csv and json lines through pyarrow."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ember.errors import AnalysisException
from ember.exec.file_writer import EXTENSIONS, FileWriteSink, check_text_compression
from ember.exec.scan import discover_partitions, list_files, read_csv, read_json
from ember.plan.expressions import AttributeReference
from ember.plan.logical import FileRelation

if TYPE_CHECKING:
    from ember.sql.dataframe import DataFrame
    from ember.sql.session import SparkSession
    from ember.sql.types import StructType


def _normalise_type(t: pa.DataType) -> pa.DataType:
    """Arrow types Spark has no twin for are read as the nearest Spark type."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us")
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_dictionary(t):
        return _normalise_type(t.value_type)
    if pa.types.is_uint8(t) or pa.types.is_uint16(t):
        return pa.int32()
    if pa.types.is_uint32(t) or pa.types.is_uint64(t):
        return pa.int64()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(_normalise_type(t.value_type))
    return t


def _downcast_ints(table: pa.Table) -> pa.Schema:
    """Spark's CSV inference picks int when every value fits, else bigint; a column with no
    values at all is a string."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_null(t):
            t = pa.string()
        elif pa.types.is_int64(t):
            col = table.column(f.name)
            lo, hi = pc.min(col).as_py(), pc.max(col).as_py()
            if lo is None or (-(2**31) <= lo and hi < 2**31):
                t = pa.int32()
        fields.append(pa.field(f.name, _normalise_type(t)))
    return pa.schema(fields)


def _json_type(t: pa.DataType) -> pa.DataType:
    """Spark's JSON inference: struct fields sorted by name, a field that is always null is a
    string, and timestamp-looking strings stay strings unless asked to infer them."""
    if pa.types.is_null(t) or pa.types.is_timestamp(t) or pa.types.is_date(t):
        return pa.string()
    if pa.types.is_struct(t):
        fields = sorted((t.field(i) for i in range(t.num_fields)), key=lambda f: f.name)
        return pa.struct([pa.field(f.name, _json_type(f.type)) for f in fields])
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_json_type(t.value_type))
    return _normalise_type(t)


class DataFrameReader:
    """``spark.read``. Option names are case-insensitive, as in Spark (``inferschema`` works)."""

    def __init__(self, session: SparkSession) -> None:
        self._session = session
        self._format = "parquet"
        self._options: dict[str, str] = {}
        self._schema: StructType | None = None

    def format(self, source: str) -> DataFrameReader:
        self._format = source.lower()
        return self

    def option(self, key: str, value: Any) -> DataFrameReader:
        value = str(value).lower() if isinstance(value, bool) else str(value)
        self._options[key.lower()] = value
        return self

    def options(self, **options: Any) -> DataFrameReader:
        for k, v in options.items():
            self.option(k, v)
        return self

    def schema(self, schema: StructType | str) -> DataFrameReader:
        from ember.sql.types import StructType, parse_ddl

        parsed = parse_ddl(schema) if isinstance(schema, str) else schema
        if not isinstance(parsed, StructType):
            msg = f"a reader schema must be a struct of columns, got {parsed}"
            raise AnalysisException(msg)
        self._schema = parsed
        return self

    def load(self, path: str | list[str] | None = None, format: str | None = None,
             schema: StructType | str | None = None, **options: Any) -> DataFrame:
        if format is not None:
            self.format(format)
        if schema is not None:
            self.schema(schema)
        self.options(**options)
        if path is None:
            msg = "load() needs a path"
            raise AnalysisException(msg)
        paths = [path] if isinstance(path, str) else list(path)
        fmt = self._format
        if fmt not in {"parquet", "csv", "json", "text"}:
            msg = f"unsupported data source {fmt!r}\n\nuse parquet, csv, json or text"
            raise AnalysisException(msg)
        files = list_files(paths)
        arrow_schema = self._arrow_schema(fmt, files)
        partitions = [(n, t) for n, t in discover_partitions(paths, files)
                      if n not in arrow_schema.names]
        attrs = tuple(AttributeReference(f.name, f.type, True) for f in arrow_schema) + tuple(
            AttributeReference(n, t, True) for n, t in partitions)
        size = sum(os.path.getsize(f) for f in files)
        relation = FileRelation(fmt, tuple(paths), attrs, tuple(sorted(self._options.items())),
                                size_in_bytes=size,
                                partition_names=tuple(n for n, _ in partitions))
        from ember.sql.dataframe import DataFrame

        return DataFrame(relation, self._session)

    def _arrow_schema(self, fmt: str, files: list[str]) -> pa.Schema:
        from ember.sql.types import to_arrow_schema

        if self._schema is not None:
            return to_arrow_schema(self._schema)
        if not files:
            msg = (f"[UNABLE_TO_INFER_SCHEMA] unable to infer a schema for {fmt}: there are no "
                   "files\n\nspecify the schema with .schema(...)")
            raise AnalysisException(msg)
        if fmt == "text":
            return pa.schema([pa.field("value", pa.string())])
        if fmt == "parquet":
            import pyarrow.dataset as ds

            schema = ds.dataset(files, format="parquet").schema
            return pa.schema([pa.field(f.name, _normalise_type(f.type)) for f in schema])
        files = [f for f in files if os.path.getsize(f) > 0]
        if not files:
            msg = (f"[UNABLE_TO_INFER_SCHEMA] unable to infer a schema for {fmt}: every file is "
                   "empty\n\nspecify the schema with .schema(...)")
            raise AnalysisException(msg)
        if fmt == "csv":
            infer = self._options.get("inferschema", "false").lower() == "true"
            table = pa.concat_tables(
                [read_csv(f, self._options, None) for f in files], promote_options="permissive")
            if not infer:
                return pa.schema([pa.field(n, pa.string()) for n in table.column_names])
            return _downcast_ints(table)
        try:
            table = pa.concat_tables([read_json(f, None) for f in files],
                                     promote_options="permissive")
        except pa.ArrowInvalid as exc:
            msg = (f"cannot infer a schema for json: {exc}\n\na field whose values mix JSON "
                   "types (e.g. numbers and strings) is not supported yet; make each field's "
                   "values one type")
            raise AnalysisException(msg) from None
        return pa.schema(list(_json_type(pa.struct(list(table.schema)))))

    def parquet(self, *paths: str, **options: Any) -> DataFrame:
        return self.format("parquet").load(list(paths), **options)

    def csv(self, path: str | list[str], schema: StructType | str | None = None,
            sep: str | None = None, header: bool | str | None = None,
            inferSchema: bool | str | None = None, **options: Any) -> DataFrame:
        for key, value in (("sep", sep), ("header", header), ("inferSchema", inferSchema)):
            if value is not None:
                self.option(key, value)
        return self.format("csv").load(path, schema=schema, **options)

    def text(self, paths: str | list[str], **options: Any) -> DataFrame:
        """Lines of text files as rows of one string column, ``value``."""
        return self.format("text").load(paths, **options)

    def json(self, path: str | list[str], schema: StructType | str | None = None,
             **options: Any) -> DataFrame:
        return self.format("json").load(path, schema=schema, **options)


class DataFrameWriter:
    _MODES = {"error", "errorifexists", "overwrite", "append", "ignore"}

    def __init__(self, df: DataFrame) -> None:
        self._df = df
        self._mode = "errorifexists"
        self._format = "parquet"
        self._options: dict[str, str] = {}
        self._partition_by: tuple[str, ...] = ()

    def mode(self, saveMode: str | None) -> DataFrameWriter:
        if saveMode is None:
            return self
        mode = saveMode.lower()
        if mode not in self._MODES:
            msg = (f"unknown save mode {saveMode!r}\n\nuse one of: error, errorifexists, "
                   "overwrite, append, ignore")
            raise AnalysisException(msg)
        self._mode = mode
        return self

    def format(self, source: str) -> DataFrameWriter:
        self._format = source.lower()
        return self

    def option(self, key: str, value: Any) -> DataFrameWriter:
        self._options[key.lower()] = str(value)
        return self

    def options(self, **options: Any) -> DataFrameWriter:
        for k, v in options.items():
            self.option(k, v)
        return self

    def partitionBy(self, *cols: str | list[str]) -> DataFrameWriter:
        """Write one directory per value of ``cols`` (``col=value/``), without those columns
        in the files, as Spark does."""
        names = [c for group in cols for c in ([group] if isinstance(group, str) else group)]
        for name in names:
            self._df._attr(name)  # unknown columns fail here, with suggestions
        self._partition_by = tuple(names)
        return self

    def save(self, path: str, format: str | None = None, mode: str | None = None,
             **options: Any) -> None:
        if format is not None:
            self.format(format)
        self.mode(mode).options(**options)
        if self._format not in EXTENSIONS:
            msg = (f"writing {self._format!r} is not supported\n\nuse parquet, csv, json or "
                   "text")
            raise AnalysisException(msg)
        self._check_text_source()
        if self._format != "parquet":
            try:
                check_text_compression(self._options)
            except ValueError as exc:
                raise AnalysisException(str(exc)) from None
        target = Path(path)
        exists = target.exists() and (not target.is_dir() or any(target.iterdir()))
        if exists:
            if self._mode in {"error", "errorifexists"}:
                msg = (f"[PATH_ALREADY_EXISTS] path {path} already exists\n\n"
                       "set mode to 'overwrite', 'append' or 'ignore'")
                raise AnalysisException(msg)
            if self._mode == "ignore":
                return
            if self._mode == "overwrite":
                self._refuse_overwriting_an_input(target)
                shutil.rmtree(target) if target.is_dir() else target.unlink()
        df = self._df
        if self._partition_by:
            # Partition columns go last, as Spark orders a partitioned table's columns.
            keep = [c for c in df.columns if c not in self._partition_by]
            df = df.select(*keep, *self._partition_by)
        sink = FileWriteSink(self._format, str(target), uuid.uuid4().hex, tuple(df.columns),
                             self._partition_by, tuple(sorted(self._options.items())))
        self._df.sparkSession._runtime().write_files(df._plan, sink)
        target.mkdir(parents=True, exist_ok=True)
        (target / "_SUCCESS").touch()

    def _check_text_source(self) -> None:
        if self._format != "text":
            return
        data = [a for a in self._df._plan.output if a.name not in self._partition_by]
        if len(data) != 1 or not pa.types.is_string(data[0].dtype):
            msg = (f"the text writer takes one string column, got {self._df.dtypes}\n\n"
                   "select or concatenate one string column first")
            raise AnalysisException(msg)

    def _refuse_overwriting_an_input(self, target: Path) -> None:
        """Overwriting deletes the target first, so it must not hold any of the query's inputs."""
        out = target.resolve()
        for node in self._df._plan.walk():
            if not isinstance(node, FileRelation):
                continue
            for p in node.paths:
                src = Path(p).resolve()
                if src == out or out in src.parents or src in out.parents:
                    msg = (f"[UNSUPPORTED_OVERWRITE.PATH] cannot overwrite {target}: the "
                           f"DataFrame being written reads from {p}\n\nwrite to a different "
                           "path, then move the result into place")
                    raise AnalysisException(msg)

    def parquet(self, path: str, mode: str | None = None, partitionBy: Any = None,
                compression: str | None = None) -> None:
        self._save_as("parquet", path, mode, partitionBy, compression=compression)

    def csv(self, path: str, mode: str | None = None, compression: str | None = None,
            sep: str | None = None, header: bool | str | None = None,
            partitionBy: Any = None, **options: Any) -> None:
        self._save_as("csv", path, mode, partitionBy, compression=compression, sep=sep,
                      header=header, **options)

    def json(self, path: str, mode: str | None = None, compression: str | None = None,
             partitionBy: Any = None, **options: Any) -> None:
        self._save_as("json", path, mode, partitionBy, compression=compression, **options)

    def text(self, path: str, compression: str | None = None, partitionBy: Any = None,
             **options: Any) -> None:
        self._save_as("text", path, None, partitionBy, compression=compression, **options)

    def _save_as(self, fmt: str, path: str, mode: str | None, partition_by: Any,
                 **options: Any) -> None:
        if partition_by:
            self.partitionBy(partition_by)
        for key, value in options.items():
            if value is not None:
                self.option(key, str(value).lower() if isinstance(value, bool) else value)
        self.save(path, format=fmt, mode=mode)
