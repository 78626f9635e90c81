"""Writing a task's rows as files: parquet, csv, json lines or text, optionally partitioned.

Each task writes its own part files (``part-00003-<job>.c000.snappy.parquet``), under
``col=value`` directories when partitioned by columns, as Spark lays them out. Files are
written under a hidden temporary name and renamed when complete.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ember.exec.context import TaskContext
from ember.exec.java_format import format_double

# Spark's name for the directory of rows whose partition value is null.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
EXTENSIONS = {"parquet": "parquet", "csv": "csv", "json": "json", "text": "txt"}


@dataclass(frozen=True)
class FileWriteSink:
    """Write the task's rows as files of ``fmt`` under ``directory``."""

    fmt: str
    directory: str
    job_tag: str
    names: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()


def write_files(batches: Iterator[pa.RecordBatch], partition: int, sink: FileWriteSink,
                ctx: TaskContext, schema: pa.Schema) -> tuple[str, ...]:
    named = pa.schema([pa.field(n, f.type) for n, f in zip(sink.names, schema, strict=True)])
    tables = [pa.Table.from_batches([b]).rename_columns(list(sink.names))
              for b in batches if b.num_rows]
    if not tables and (partition != 0 or sink.partition_by):
        return ()
    # The first task writes a file even when empty, so that the schema survives, as Spark.
    table = pa.concat_tables(tables) if tables else named.empty_table()
    ctx.metrics.output_rows += table.num_rows
    written = []
    for subdir, part in _split_partitions(table, sink.partition_by):
        target = Path(sink.directory) / subdir
        target.mkdir(parents=True, exist_ok=True)
        name = _file_name(partition, sink)
        tmp = target / f".{name}.{uuid.uuid4().hex}.tmp"
        _write(part, tmp, sink)
        tmp.rename(target / name)
        written.append(str(Path(subdir) / name) if subdir else name)
    return tuple(written)


def _file_name(partition: int, sink: FileWriteSink) -> str:
    """Spark's part file names: ``part-00000-<job>-c000.snappy.parquet``, and for text formats
    the codec after the extension: ``part-00000-<job>-c000.csv.gz``."""
    options = {k.lower(): v for k, v in sink.options}
    compression = options.get("compression", "snappy" if sink.fmt == "parquet" else "none")
    codec = "" if compression.lower() in {"none", "uncompressed"} else _codec_suffix(compression)
    stem = f"part-{partition:05d}-{sink.job_tag}-c000"
    ext = EXTENSIONS[sink.fmt]
    if sink.fmt == "parquet":
        return f"{stem}.{codec}.{ext}" if codec else f"{stem}.{ext}"
    return f"{stem}.{ext}.{codec}" if codec else f"{stem}.{ext}"


def _codec_suffix(compression: str) -> str:
    return {"gzip": "gz", "zstd": "zstd", "lz4": "lz4", "snappy": "snappy"}.get(compression,
                                                                             compression)


def _split_partitions(table: pa.Table, by: tuple[str, ...]) -> Iterator[tuple[str, pa.Table]]:
    if not by:
        yield "", table
        return
    keys = table.select(list(by))
    combos = keys.group_by(list(by), use_threads=False).aggregate([])
    data = table.drop_columns(list(by))
    for row in combos.to_pylist():
        mask = None
        for col in by:
            value = row[col]
            m = pc.is_null(table.column(col)) if value is None else \
                pc.fill_null(pc.equal(table.column(col), pa.scalar(value,
                                                                   table.schema.field(col).type)),
                             False)
            mask = m if mask is None else pc.and_(mask, m)
        subdir = "/".join(f"{quote(col, safe='')}={_partition_text(row[col])}" for col in by)
        yield subdir, data.filter(mask)


def _partition_text(value: Any) -> str:
    if value is None:
        return NULL_PARTITION
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = format_double(value)
    elif isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    else:
        text = str(value)
    # Spark escapes the characters that cannot appear in a path segment.
    return quote(text, safe=" ,;-_.~!$&'()*+@")


def _write(table: pa.Table, path: Path, sink: FileWriteSink) -> None:
    options = {k.lower(): v for k, v in sink.options}
    if sink.fmt == "parquet":
        import pyarrow.parquet as pq

        compression = options.get("compression", "snappy")
        pq.write_table(table, path, compression=None if compression == "none" else compression)
        return
    if sink.fmt == "csv":
        data = _csv_bytes(table, options)
    elif sink.fmt == "json":
        data = _json_bytes(table)
    else:
        values = table.column(0).to_pylist()
        data = "".join(("" if v is None else str(v)) + "\n" for v in values).encode()
    compression = options.get("compression", "none").lower()
    if compression == "gzip":
        import gzip

        data = gzip.compress(data)
    path.write_bytes(data)


def check_text_compression(options: dict[str, str]) -> None:
    codec = options.get("compression", "none").lower()
    if codec not in {"none", "uncompressed", "gzip"}:
        msg = (f"compression {codec!r} is not supported for text formats\n\n"
               "use gzip or none")
        raise ValueError(msg)


def _csv_bytes(table: pa.Table, options: dict[str, str]) -> bytes:
    header = options.get("header", "false").lower() == "true"
    sep = options.get("sep", options.get("delimiter", ","))
    text_columns = [_csv_text(col) for col in table.columns]
    special = f'["\\r\\n{re.escape(sep)}]'
    needs_quotes = any(pc.any(pc.match_substring_regex(c, special)).as_py() for c in text_columns)
    if not needs_quotes:
        # Spark quotes only values that need it; pyarrow would quote every string.
        out = pa.table(text_columns, names=table.column_names)
        buffer = io.BytesIO()
        if header:  # pyarrow quotes header names whatever the quoting style
            line = io.StringIO()
            csv.writer(line, delimiter=sep, lineterminator="\n").writerow(table.column_names)
            buffer.write(line.getvalue().encode())
        pacsv.write_csv(out, buffer, write_options=pacsv.WriteOptions(
            include_header=False, delimiter=sep, quoting_style="none"))
        return buffer.getvalue()
    text = io.StringIO()
    writer = csv.writer(text, delimiter=sep, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    if header:
        writer.writerow(table.column_names)
    columns = [c.to_pylist() for c in text_columns]
    writer.writerows(("" if v is None else v for v in row) for row in zip(*columns, strict=True))
    return text.getvalue().encode()


def _csv_text(col: pa.ChunkedArray) -> pa.Array:
    """Values as Spark writes them in CSV: Java's doubles, true/false, ISO dates; null empty."""
    from ember.exec.expr_eval import spark_cast

    arr = col.combine_chunks()
    if pa.types.is_string(arr.type):
        return arr
    return spark_cast(arr, pa.string())


def _json_bytes(table: pa.Table) -> bytes:
    lines = []
    for row in table.to_pylist():
        # Spark leaves null fields out of JSON output (ignoreNullFields).
        lines.append(json.dumps({k: _json_value(v) for k, v in row.items() if v is not None},
                                separators=(",", ":"), ensure_ascii=False))
    return "".join(line + "\n" for line in lines).encode()


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if hasattr(value, "as_tuple"):  # Decimal
        return float(value)
    return value
