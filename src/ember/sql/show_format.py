"""The text ``DataFrame.show()`` prints, character for character as Spark 4's ``showString``.

Cells are rendered as Spark casts values to strings for display: ``NULL``, ``true``, Java's
``Double.toString`` for floating point, ``[1, 2]`` for arrays, ``{a -> 1}`` for maps,
``{1, a}`` for structs and ``[01 FF]`` for binary. Widths count characters as Java does
(UTF-16 units), with East Asian wide characters taking two columns.

>>> import pyarrow as pa
>>> print(format_show(pa.table({"id": [1, 2], "x": [0.5, None]})))
+---+----+
| id|   x|
+---+----+
|  1| 0.5|
|  2|NULL|
+---+----+
<BLANKLINE>
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ember.exec.java_format import format_double, format_float

__all__ = [
    "format_cell_column", "format_double", "format_float", "format_show", "format_timestamp",
]

MIN_COLUMN_WIDTH = 3
DEFAULT_TRUNCATE = 20


# --- cells ------------------------------------------------------------------------------------

def format_timestamp(value: datetime.datetime) -> str:
    """A timestamp as Spark prints it: fractional seconds only when present, without trailing
    zeros (``2020-01-02 03:04:05.1``)."""
    text = (f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text


def _format_date(value: datetime.date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _format_binary(value: bytes) -> str:
    return "[" + " ".join(f"{b:02X}" for b in value) + "]"


def _scalar_formatter(pa_type: pa.DataType) -> Callable[[Any], str]:
    t = pa.types
    if t.is_boolean(pa_type):
        return lambda v: "true" if v else "false"
    if t.is_float64(pa_type):
        return format_double
    if t.is_float32(pa_type) or t.is_float16(pa_type):
        return format_float
    if t.is_string(pa_type) or t.is_large_string(pa_type) or t.is_string_view(pa_type):
        return lambda v: v
    if (t.is_binary(pa_type) or t.is_large_binary(pa_type) or t.is_fixed_size_binary(pa_type)
            or t.is_binary_view(pa_type)):
        return _format_binary
    if t.is_timestamp(pa_type):
        return format_timestamp
    if t.is_date(pa_type):
        return _format_date
    if t.is_decimal(pa_type):
        return lambda v: format(v, "f")
    return str


def _displayable(arr: pa.Array) -> pa.Array:
    """Turn types Python renders awkwardly into ones it renders like Spark."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return arr.dictionary_decode()
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            arr = pc.local_timestamp(arr)  # wall-clock time in the column's zone
        if t.unit == "ns":
            arr = arr.cast(pa.timestamp("us"), safe=False)  # Spark keeps microseconds
    elif pa.types.is_list_view(t) or pa.types.is_fixed_size_list(t):
        arr = arr.cast(pa.list_(t.value_field))
    elif pa.types.is_large_list_view(t):
        arr = arr.cast(pa.large_list(t.value_field))
    return arr


def _offsets(arr: pa.Array) -> tuple[list[int], int, int]:
    """List offsets rebased to 0, and the range of the child array they cover.

    The child of a sliced list array is not sliced, so only this range is worth formatting.
    """
    offsets = arr.offsets.to_pylist()
    start, stop = offsets[0], offsets[-1]
    return [o - start for o in offsets], start, stop


def format_cell_column(arr: pa.Array | pa.ChunkedArray) -> list[str]:
    """Each value of ``arr`` as ``show()`` writes it (before escaping and truncation).

    Nested values are formatted column by column, not value by value.
    """
    if isinstance(arr, pa.ChunkedArray):
        out: list[str] = []
        for chunk in arr.chunks:
            out.extend(format_cell_column(chunk))
        return out
    arr = _displayable(arr)
    t = arr.type
    n = len(arr)
    if pa.types.is_null(t):
        return ["NULL"] * n
    if pa.types.is_struct(t):
        children = [format_cell_column(arr.field(i)) for i in range(t.num_fields)]
        cells = ["{" + ", ".join(parts) + "}" for parts in zip(*children, strict=True)]
        if not children:
            cells = ["{}"] * n
    elif pa.types.is_map(t):
        offsets, start, stop = _offsets(arr)
        keys = format_cell_column(arr.keys.slice(start, stop - start))
        items = format_cell_column(arr.items.slice(start, stop - start))
        cells = ["{" + ", ".join(f"{keys[j]} -> {items[j]}" for j in range(lo, hi)) + "}"
                 for lo, hi in zip(offsets, offsets[1:], strict=False)]
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        offsets, start, stop = _offsets(arr)
        values = format_cell_column(arr.values.slice(start, stop - start))
        cells = ["[" + ", ".join(values[lo:hi]) + "]"
                 for lo, hi in zip(offsets, offsets[1:], strict=False)]
    else:
        fmt = _scalar_formatter(t)
        return ["NULL" if v is None else fmt(v) for v in arr.to_pylist()]
    if arr.null_count:
        valid = arr.is_valid().to_pylist()
        cells = [cell if ok else "NULL" for cell, ok in zip(cells, valid, strict=True)]
    return cells


# --- layout -----------------------------------------------------------------------------------

_META_ESCAPES = str.maketrans({
    "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f", "\b": "\\b", "\v": "\\v", "\a": "\\a",
})

# The ranges Spark counts as two columns wide (CJK, Hangul, full-width forms)
_FULL_WIDTH = re.compile(
    "[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff"
    "\ufe10-\ufe19\ufe30-\ufe6f\uff00-\uff60\uffe0-\uffe6]"
)


def _java_length(text: str) -> int:
    """Length in UTF-16 units, as Java's ``String.length``."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _display_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return _java_length(text) + len(_FULL_WIDTH.findall(text))


def _java_prefix(text: str, units: int) -> str:
    """The first ``units`` UTF-16 units; half a surrogate pair prints as '?' in Spark."""
    if text.isascii():
        return text[:units]
    out: list[str] = []
    used = 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > units:
            if used < units:
                out.append("?")
            break
        out.append(ch)
        used += size
    return "".join(out)


def _truncate(cell: str, limit: int) -> str:
    if limit <= 0 or _java_length(cell) <= limit:
        return cell
    if limit < 4:
        return _java_prefix(cell, limit)
    return _java_prefix(cell, limit - 3) + "..."


def _truncate_limit(truncate: bool | int) -> int:
    if isinstance(truncate, bool):
        return DEFAULT_TRUNCATE if truncate else 0
    if isinstance(truncate, int):
        return truncate
    msg = f"truncate must be a bool or an int, got {type(truncate).__name__}"
    raise TypeError(msg)


def format_show(
    table: pa.Table | pa.RecordBatch, *, n: int = 20, truncate: bool | int = True,
    vertical: bool = False, names: list[str] | None = None, has_more: bool = False,
) -> str:
    """The text Spark's ``Dataset.showString`` returns for the first ``n`` rows of ``table``.

    ``has_more`` says that rows beyond ``table`` exist (``table`` holding more than ``n`` rows
    says so too). Without a footer the text ends with a newline; the footer line
    ("only showing top 2 rows", or "(0 rows)" when vertical) has none, as in Spark 4.
    ``names`` replaces the column names.

    >>> import pyarrow as pa
    >>> print(format_show(pa.table({"s": ["a" * 30, None]}), n=1))
    +--------------------+
    |                   s|
    +--------------------+
    |aaaaaaaaaaaaaaaaa...|
    +--------------------+
    only showing top 1 row
    """
    if isinstance(n, bool) or not isinstance(n, int):
        msg = f"n must be an int, got {type(n).__name__}"
        raise TypeError(msg)
    limit = _truncate_limit(truncate)
    n = max(n, 0)
    if table.num_rows > n:
        table = table.slice(0, n)
        has_more = True
    header = list(names) if names is not None else list(table.column_names)
    if len(header) != table.num_columns:
        msg = (f"got {len(header)} names for a table of {table.num_columns} columns\n\n"
               "pass one name per column")
        raise ValueError(msg)
    header = [name.translate(_META_ESCAPES) for name in header]
    columns = [
        [_truncate(cell.translate(_META_ESCAPES), limit) for cell in format_cell_column(col)]
        for col in table.columns
    ]
    rows = [list(r) for r in zip(*columns, strict=True)] if columns else [[]] * table.num_rows
    if vertical:
        text = _vertical(header, rows)
        if not rows:
            return text + "(0 rows)"
    else:
        text = _horizontal(header, rows, right_align=limit > 0)
    if has_more:
        text += f"only showing top {n} {'row' if n == 1 else 'rows'}"
    return text


def _horizontal(header: list[str], rows: list[list[str]], *, right_align: bool) -> str:
    widths = [max(MIN_COLUMN_WIDTH, _display_width(name)) for name in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], _display_width(cell))

    def line(cells: list[str]) -> str:
        padded = []
        for cell, width in zip(cells, widths, strict=True):
            pad = " " * (width - _display_width(cell))
            padded.append(pad + cell if right_align else cell + pad)
        return "|" + "|".join(padded) + "|\n"

    sep = "+" + "+".join("-" * w for w in widths) + "+\n"
    return sep + line(header) + sep + "".join(line(r) for r in rows) + sep


def _vertical(header: list[str], rows: list[list[str]]) -> str:
    name_width = max([MIN_COLUMN_WIDTH, *(_display_width(name) for name in header)])
    data_width = max([MIN_COLUMN_WIDTH, *(_display_width(c) for row in rows for c in row)])
    out: list[str] = []
    for i, row in enumerate(rows):
        # five characters separate the two padded columns: " ", " | " and a trailing " "
        out.append(f"-RECORD {i}".ljust(name_width + data_width + 5, "-") + "\n")
        for name, cell in zip(header, row, strict=True):
            name_pad = " " * (name_width - _display_width(name))
            cell_pad = " " * (data_width - _display_width(cell))
            out.append(f" {name}{name_pad} | {cell}{cell_pad} \n")
    return "".join(out)
