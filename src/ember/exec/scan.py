"""File scans through pyarrow: parquet (with filter and projection pushdown), csv, json lines."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.json as pajson

from ember.exec.context import TaskContext
from ember.exec.operators import PhysicalOp, table_batches
from ember.plan.expressions import (
    And,
    AttributeReference,
    BinaryOp,
    Expression,
    In,
    IsNotNull,
    IsNull,
    Literal,
    Not,
    Or,
)

# Spark's spark.sql.files.maxPartitionBytes
MAX_SPLIT_BYTES = 128 * 1024 * 1024
OPEN_COST_BYTES = 4 * 1024 * 1024  # spark.sql.files.openCostInBytes
SPLIT_BATCH_ROWS = 1 << 18
# Decoded batches a Parquet scan may hold ahead of the operator reading them. Arrow's default
# (16, plus 4 fragments) buffers hundreds of MiB that no memory manager sees; one batch ahead
# keeps decoding overlapped with the task's work.
SCAN_BATCH_READAHEAD = 1


def list_files(paths: Sequence[str]) -> list[str]:
    """Data files under ``paths``, skipping hidden and ``_``-prefixed files as Spark does."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                out.extend(str(Path(root) / f) for f in sorted(files)
                           if not f.startswith((".", "_")))
        elif path.exists():
            out.append(str(path))
        else:
            msg = f"[PATH_NOT_FOUND] path does not exist: {p}"
            from ember.errors import AnalysisException

            raise AnalysisException(msg)
    return out


Split = tuple[str, tuple[int, ...] | None, tuple[Any, ...]]


def plan_splits(fmt: str, files: Sequence[str], roots: Sequence[str] = (),
                partitions: Sequence[tuple[str, pa.DataType]] = (), *,
                parallelism: int = 1) -> list[Split]:
    """Split files into partitions (parquet by row groups) of up to Spark's max split size:
    ``MAX_SPLIT_BYTES``, lowered to the total bytes over ``parallelism`` (but not below
    ``OPEN_COST_BYTES``) so that a small input still gives every core a split.

    Each split carries the values of the file's ``col=value`` directories, one per
    partition column, typed.
    """
    import pyarrow.parquet as pq

    metas = {f: pq.ParquetFile(f).metadata for f in files} if fmt == "parquet" else {}
    total = sum(m.row_group(rg).total_byte_size for m in metas.values()
                for rg in range(m.num_row_groups)) + OPEN_COST_BYTES * len(metas)
    max_split = min(MAX_SPLIT_BYTES, max(OPEN_COST_BYTES, total // max(1, parallelism)))
    splits: list[Split] = []
    for f in files:
        raw = partition_values(roots, f)
        values = tuple(_typed(raw.get(name), t) for name, t in partitions)
        if fmt != "parquet":
            splits.append((f, None, values))
            continue
        meta = metas[f]
        group: list[int] = []
        size = 0
        for rg in range(meta.num_row_groups):
            rg_size = meta.row_group(rg).total_byte_size
            if group and size + rg_size > max_split:
                splits.append((f, tuple(group), values))
                group, size = [], 0
            group.append(rg)
            size += rg_size
        splits.append((f, tuple(group), values))
    return splits


# Spark's directory name for a null partition value.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def partition_values(roots: Sequence[str], file: str) -> dict[str, str | None]:
    """The ``col=value`` directories between the root the file was found under and it."""
    from urllib.parse import unquote

    path = Path(file).resolve()
    for root in roots:
        base = Path(root).resolve()
        if base in path.parents:
            out: dict[str, str | None] = {}
            for part in path.relative_to(base).parts[:-1]:
                name, sep, value = part.partition("=")
                if sep and name:
                    text = unquote(value)
                    out[unquote(name)] = None if text == NULL_PARTITION else text
            return out
    return {}


def discover_partitions(roots: Sequence[str], files: Sequence[str]) -> list[tuple[str, pa.DataType]]:
    """Partition columns and their types, inferred from the directory values as Spark does:
    int, bigint, double, date, else string."""
    names: list[str] = []
    values: dict[str, list[str]] = {}
    for f in files:
        for name, value in partition_values(roots, f).items():
            if name not in values:
                names.append(name)
                values[name] = []
            if value is not None:
                values[name].append(value)
    return [(n, _infer_partition_type(values[n])) for n in names]


def _infer_partition_type(texts: list[str]) -> pa.DataType:
    import datetime as dt
    import re

    if not texts:
        return pa.string()
    if all(re.fullmatch(r"-?\d+", t) for t in texts):
        return pa.int32() if all(-(2**31) <= int(t) < 2**31 for t in texts) else pa.int64()
    if all(re.fullmatch(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", t) for t in texts):
        return pa.float64()
    try:
        for t in texts:
            dt.date.fromisoformat(t)
        return pa.date32()
    except ValueError:
        return pa.string()


def _typed(text: str | None, t: pa.DataType) -> Any:
    if text is None:
        return None
    return pa.scalar(text).cast(t).as_py()


def csv_options(options: dict[str, str], schema: pa.Schema | None) -> tuple:
    options = {k.lower(): v for k, v in options.items()}  # Spark's options ignore case
    header = options.get("header", "false").lower() == "true"
    sep = options.get("sep", options.get("delimiter", ","))
    if schema is not None:
        # The schema names the columns by position; a header line is only skipped.
        read = pacsv.ReadOptions(column_names=schema.names, skip_rows=int(header),
                                 block_size=1 << 24)
    elif header:
        read = pacsv.ReadOptions(block_size=1 << 24)
    else:
        read = pacsv.ReadOptions(autogenerate_column_names=True, block_size=1 << 24)
    parse = pacsv.ParseOptions(delimiter=sep, quote_char=options.get("quote", '"'),
                               escape_char=options.get("escape", "\\") or False)
    null_value = options.get("nullvalue", "")
    convert = pacsv.ConvertOptions(
        column_types=schema if schema is not None else None,
        strings_can_be_null=True, null_values=[null_value], quoted_strings_can_be_null=True,
        true_values=["true", "True", "TRUE"], false_values=["false", "False", "FALSE"],
    )
    return read, parse, convert


def _empty_file(path: str, schema: pa.Schema | None) -> pa.Table | None:
    """Spark reads an empty csv or json file as no rows, where pyarrow refuses it."""
    if os.path.getsize(path) > 0:
        return None
    return schema.empty_table() if schema is not None else pa.table({})


def read_csv(path: str, options: dict[str, str], schema: pa.Schema | None) -> pa.Table:
    empty = _empty_file(path, schema)
    if empty is not None:
        return empty
    read, parse, convert = csv_options(options, schema)
    table = pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    if schema is None and options.get("header", "false").lower() != "true":
        table = table.rename_columns([f"_c{i}" for i in range(table.num_columns)])
    return table


def read_json(path: str, schema: pa.Schema | None) -> pa.Table:
    empty = _empty_file(path, schema)
    if empty is not None:
        return empty
    parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore") \
        if schema is not None else pajson.ParseOptions()
    return pajson.read_json(path, parse_options=parse)


def read_text(path: str) -> pa.Table:
    """One row per line, in a string column ``value`` (Spark's text source)."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".gz"):
        import gzip

        data = gzip.decompress(data)
    if not data:
        return pa.table({"value": pa.array([], pa.string())})
    text = data.decode("utf-8", errors="replace")
    lines = pc.split_pattern_regex(pa.array([text]), pattern="\r?\n")
    values = pc.list_flatten(lines)
    if text.endswith("\n"):
        values = values.slice(0, len(values) - 1)
    return pa.table({"value": values})


def to_arrow_filter(expr: Expression) -> pc.Expression | None:
    """A pyarrow dataset filter equivalent to ``expr``, or None if it cannot be expressed."""
    if isinstance(expr, AttributeReference):
        return pc.field(expr.name)
    if isinstance(expr, Literal):
        return pc.scalar(pa.scalar(expr.value, expr.dtype))
    if isinstance(expr, And | Or):
        left, right = to_arrow_filter(expr.left), to_arrow_filter(expr.right)
        if left is None or right is None:
            return None
        return (left & right) if isinstance(expr, And) else (left | right)
    if isinstance(expr, Not):
        child = to_arrow_filter(expr.child)
        return None if child is None else ~child
    if isinstance(expr, IsNull | IsNotNull):
        child = to_arrow_filter(expr.child)
        if child is None:
            return None
        return child.is_null() if isinstance(expr, IsNull) else child.is_valid()
    if isinstance(expr, In) and all(isinstance(v, Literal) and v.value is not None
                                   for v in expr.values):
        child = to_arrow_filter(expr.child)
        values = pa.array([v.value for v in expr.values], expr.child.dtype)  # type: ignore[attr-defined]
        return None if child is None else child.isin(values)
    if isinstance(expr, BinaryOp) and expr.op in {"=", "!=", "<", "<=", ">", ">="}:
        left, right = to_arrow_filter(expr.left), to_arrow_filter(expr.right)
        if left is None or right is None:
            return None
        ops = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__",
               ">=": "__ge__"}
        return getattr(left, ops[expr.op])(right)
    return None


@dataclass(frozen=True, eq=False)
class FileScanExec(PhysicalOp):
    fmt: str
    splits: tuple[Split, ...]
    file_schema: pa.Schema
    attrs: tuple[AttributeReference, ...]
    arrow_filter: pc.Expression | None
    options: tuple[tuple[str, str], ...]
    pushed: str = ""
    partition_names: tuple[str, ...] = ()

    @property
    def output(self) -> list[AttributeReference]:
        return list(self.attrs)

    def num_partitions(self, reduce_ranges: int) -> int:
        return max(1, len(self.splits))

    def simple_string(self) -> str:
        from ember.plan.logical import attr_string

        cols = ", ".join(attr_string(a) for a in self.attrs)
        pushed = f", PushedFilters: [{self.pushed}]" if self.pushed else ""
        return f"FileScan {self.fmt} [{cols}]{pushed}, Splits: {len(self.splits)}"

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        if not self.splits:
            return
        path, row_groups, part_values = self.splits[partition]
        file_attrs = [a for a in self.attrs if a.name not in self.partition_names]
        # Reading no column would lose the row count; read one and drop it.
        names = [a.name for a in file_attrs] or self.file_schema.names[:1]
        if self.fmt == "parquet":
            # pyarrow needs an explicit filesystem to build a fragment from a path string.
            import pyarrow.dataset as ds  # imports pandas: loaded only where parquet is read

            fragment = ds.ParquetFileFormat().make_fragment(
                path, filesystem=pafs.LocalFileSystem(), row_groups=row_groups)
            batches = fragment.to_batches(schema=self.file_schema, columns=names,
                                          filter=self.arrow_filter, batch_size=SPLIT_BATCH_ROWS,
                                          batch_readahead=SCAN_BATCH_READAHEAD,
                                          fragment_readahead=1)
            for b in batches:
                if b.num_rows:
                    ctx.metrics.input_rows += b.num_rows
                    yield self._conform(b, file_attrs, part_values)
            return
        opts = dict(self.options)
        if self.fmt == "csv":
            table = read_csv(path, opts, self.file_schema)
        elif self.fmt == "text":
            table = read_text(path)
        else:
            table = read_json(path, self.file_schema)
        table = table.select(names)
        if self.arrow_filter is not None:
            table = table.filter(self.arrow_filter)
        ctx.metrics.input_rows += table.num_rows
        for b in table_batches(table):
            yield self._conform(b, file_attrs, part_values)

    def _conform(self, batch: pa.RecordBatch, file_attrs: list[AttributeReference],
                 part_values: tuple[Any, ...]) -> pa.RecordBatch:
        """Batch columns in output order and types, with the partition values as constants."""
        read = {a.expr_id: batch.column(i) for i, a in enumerate(file_attrs)}
        n = batch.num_rows
        arrays = []
        for a in self.attrs:
            if a.expr_id in read:
                col = read[a.expr_id]
                arrays.append(col if col.type == a.dtype else col.cast(a.dtype))
            else:
                value = part_values[self.partition_names.index(a.name)]
                nulls = pa.nulls(n, a.dtype)
                arrays.append(nulls if value is None else pc.fill_null(
                    nulls, pa.scalar(value, a.dtype)))
        return pa.RecordBatch.from_arrays(arrays, names=[a.key for a in self.attrs])
