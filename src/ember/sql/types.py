"""Spark SQL data types, named and printed as in ``pyspark.sql.types``.

Besides the type classes this module holds the two translations every layer needs: to and
from Arrow types (the engine's physical types) and from DDL strings such as
``"a INT, b ARRAY<STRING>"`` (what users pass as ``schema=``).

>>> parse_ddl("a int, tags array<string> not null").simpleString()
'struct<a:int,tags:array<string>>'
>>> print(parse_ddl("a int not null").treeString(), end="")
root
 |-- a: integer (nullable = false)
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa

from ember.errors import ParseException

__all__ = [
    "ArrayType", "AtomicType", "BinaryType", "BooleanType", "ByteType", "DataType", "DateType",
    "DecimalType", "DoubleType", "FloatType", "FractionalType", "IntegerType", "IntegralType",
    "LongType", "MapType", "NullType", "NumericType", "ShortType", "StringType", "StructField",
    "StructType", "TimestampNTZType", "TimestampType", "from_arrow_schema", "from_arrow_type",
    "from_json", "parse_ddl", "to_arrow_schema", "to_arrow_type",
]


class DataType:
    """Base class of all types. Equal by value; printed as its constructor call."""

    _type_name: ClassVar[str] = ""
    _simple_name: ClassVar[str] = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    @classmethod
    def typeName(cls) -> str:
        return cls._type_name

    def simpleString(self) -> str:
        return self._simple_name or self.typeName()

    def jsonValue(self) -> Any:
        return self.typeName()

    def json(self) -> str:
        return json.dumps(self.jsonValue(), separators=(",", ":"), sort_keys=True)

    @staticmethod
    def fromDDL(ddl: str) -> DataType:
        return parse_ddl(ddl)

    def _tree_name(self) -> str:
        # printSchema uses the JVM's typeName, which differs from Python's only for decimals
        return self.typeName()

    def _tree_lines(self, prefix: str, out: list[str], depth: int) -> None:
        """Append the nested lines ``printSchema`` shows below a field of this type."""


class AtomicType(DataType):
    """A type that is not nested."""


class NumericType(AtomicType):
    pass


class IntegralType(NumericType):
    pass


class FractionalType(NumericType):
    pass


class NullType(DataType):
    _type_name = "void"


class StringType(AtomicType):
    _type_name = "string"


class BinaryType(AtomicType):
    _type_name = "binary"


class BooleanType(AtomicType):
    _type_name = "boolean"


class DateType(AtomicType):
    _type_name = "date"


class TimestampType(AtomicType):
    """An instant, shown as wall-clock time in the session time zone."""

    _type_name = "timestamp"


class TimestampNTZType(AtomicType):
    """A wall-clock time with no time zone."""

    _type_name = "timestamp_ntz"


class DoubleType(FractionalType):
    _type_name = "double"


class FloatType(FractionalType):
    _type_name = "float"


class ByteType(IntegralType):
    _type_name = "byte"
    _simple_name = "tinyint"


class ShortType(IntegralType):
    _type_name = "short"
    _simple_name = "smallint"


class IntegerType(IntegralType):
    _type_name = "integer"
    _simple_name = "int"


class LongType(IntegralType):
    _type_name = "long"
    _simple_name = "bigint"


MAX_DECIMAL_PRECISION = 38


@dataclass(frozen=True, repr=False)
class DecimalType(FractionalType):
    precision: int = 10
    scale: int = 0

    _type_name: ClassVar[str] = "decimal"

    def __post_init__(self) -> None:
        p, s = self.precision, self.scale
        if not 1 <= p <= MAX_DECIMAL_PRECISION or not 0 <= s <= p:
            msg = (
                f"decimal({self.precision},{self.scale}) is not a valid decimal type\n\n"
                f"precision must be 1..{MAX_DECIMAL_PRECISION} and scale 0..precision"
            )
            raise ValueError(msg)

    def __repr__(self) -> str:
        return f"DecimalType({self.precision},{self.scale})"

    def simpleString(self) -> str:
        return f"decimal({self.precision},{self.scale})"

    def jsonValue(self) -> Any:
        return self.simpleString()

    def _tree_name(self) -> str:
        return self.simpleString()


@dataclass(frozen=True, repr=False)
class ArrayType(DataType):
    elementType: DataType
    containsNull: bool = True

    _type_name: ClassVar[str] = "array"

    def __repr__(self) -> str:
        return f"ArrayType({self.elementType!r}, {self.containsNull})"

    def simpleString(self) -> str:
        return f"array<{self.elementType.simpleString()}>"

    def jsonValue(self) -> Any:
        return {"type": "array", "elementType": self.elementType.jsonValue(),
                "containsNull": self.containsNull}

    def _tree_lines(self, prefix: str, out: list[str], depth: int) -> None:
        if depth == 0:
            return
        el = self.elementType
        out.append(f"{prefix}-- element: {el._tree_name()} "
                   f"(containsNull = {_bool(self.containsNull)})")
        el._tree_lines(prefix + "    |", out, depth - 1)


@dataclass(frozen=True, repr=False)
class MapType(DataType):
    keyType: DataType
    valueType: DataType
    valueContainsNull: bool = True

    _type_name: ClassVar[str] = "map"

    def __repr__(self) -> str:
        return f"MapType({self.keyType!r}, {self.valueType!r}, {self.valueContainsNull})"

    def simpleString(self) -> str:
        return f"map<{self.keyType.simpleString()},{self.valueType.simpleString()}>"

    def jsonValue(self) -> Any:
        return {"type": "map", "keyType": self.keyType.jsonValue(),
                "valueType": self.valueType.jsonValue(),
                "valueContainsNull": self.valueContainsNull}

    def _tree_lines(self, prefix: str, out: list[str], depth: int) -> None:
        if depth == 0:
            return
        out.append(f"{prefix}-- key: {self.keyType._tree_name()}")
        self.keyType._tree_lines(prefix + "    |", out, depth - 1)
        out.append(f"{prefix}-- value: {self.valueType._tree_name()} "
                   f"(valueContainsNull = {_bool(self.valueContainsNull)})")
        self.valueType._tree_lines(prefix + "    |", out, depth - 1)


@dataclass(frozen=True, repr=False)
class StructField(DataType):
    name: str
    dataType: DataType
    nullable: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.metadata is None:  # PySpark accepts an explicit None
            object.__setattr__(self, "metadata", {})

    def __repr__(self) -> str:
        return f"StructField({self.name!r}, {self.dataType!r}, {self.nullable})"

    def __hash__(self) -> int:
        return hash((self.name, self.dataType, self.nullable))

    def simpleString(self) -> str:
        return f"{self.name}:{self.dataType.simpleString()}"

    def jsonValue(self) -> Any:
        return {"name": self.name, "type": self.dataType.jsonValue(),
                "nullable": self.nullable, "metadata": self.metadata}

    def typeName(self) -> str:  # type: ignore[override]
        msg = "StructField does not have a type name\n\nuse field.dataType.typeName()"
        raise TypeError(msg)


class StructType(DataType):
    """An ordered list of fields. ``add`` appends in place and returns ``self``, as PySpark's."""

    _type_name = "struct"

    def __init__(self, fields: list[StructField] | None = None) -> None:
        self.fields: list[StructField] = list(fields or [])
        for f in self.fields:
            if not isinstance(f, StructField):
                msg = f"StructType takes StructField objects, got {f!r}"
                raise TypeError(msg)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def fieldNames(self) -> list[str]:
        return self.names

    def add(
        self, field: str | StructField, data_type: str | DataType | None = None,
        nullable: bool = True, metadata: dict[str, Any] | None = None,
    ) -> StructType:
        if isinstance(field, StructField):
            self.fields.append(field)
            return self
        if data_type is None:
            msg = f"add({field!r}) needs a data type\n\npass add(name, data_type) or a StructField"
            raise TypeError(msg)
        if isinstance(data_type, str):
            data_type = _type_from_string(data_type)
        self.fields.append(StructField(field, data_type, nullable, metadata))
        return self

    def __iter__(self) -> Iterator[StructField]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            for f in self.fields:
                if f.name == key:
                    return f
            msg = f"no field named {key!r}\n\nfields: {', '.join(self.names) or '(none)'}"
            raise KeyError(msg)
        if isinstance(key, slice):
            return StructType(self.fields[key])
        if isinstance(key, int) and not isinstance(key, bool):
            try:
                return self.fields[key]
            except IndexError:
                msg = f"field index {key} out of range for a struct of {len(self.fields)} fields"
                raise IndexError(msg) from None
        msg = f"a struct is indexed by name, position or slice, not {type(key).__name__}"
        raise TypeError(msg)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StructType) and self.fields == other.fields

    def __hash__(self) -> int:
        return hash(tuple(self.fields))

    def __repr__(self) -> str:
        return f"StructType([{', '.join(repr(f) for f in self.fields)}])"

    def simpleString(self) -> str:
        return f"struct<{','.join(f.simpleString() for f in self.fields)}>"

    def jsonValue(self) -> Any:
        return {"type": "struct", "fields": [f.jsonValue() for f in self.fields]}

    @classmethod
    def fromJson(cls, json_value: dict[str, Any]) -> StructType:
        result = from_json(json_value)
        if not isinstance(result, StructType):
            msg = f"expected a struct type, got {result.simpleString()}"
            raise ValueError(msg)
        return result

    def treeString(self, level: int | None = None) -> str:
        """The text ``printSchema`` prints, ending with a newline."""
        out = ["root"]
        self._tree_lines(" |", out, level if level and level > 0 else -1)
        return "\n".join(out) + "\n"

    def _tree_lines(self, prefix: str, out: list[str], depth: int) -> None:
        if depth == 0:
            return
        for f in self.fields:
            out.append(f"{prefix}-- {_escape_meta(f.name)}: {f.dataType._tree_name()} "
                       f"(nullable = {_bool(f.nullable)})")
            f.dataType._tree_lines(prefix + "    |", out, depth - 1)


def _bool(value: bool) -> str:
    return "true" if value else "false"


_META_ESCAPES = str.maketrans({
    "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f", "\b": "\\b", "\v": "\\v", "\a": "\\a",
})


def _escape_meta(text: str) -> str:
    """Spell out control characters, as Spark does so they cannot break a printed layout."""
    return text.translate(_META_ESCAPES)


# --- JSON form --------------------------------------------------------------------------------

_ATOMIC_BY_JSON_NAME: dict[str, type[DataType]] = {
    t.typeName(): t for t in (
        NullType, StringType, BinaryType, BooleanType, DateType, TimestampType,
        TimestampNTZType, DoubleType, FloatType, ByteType, ShortType, IntegerType, LongType,
    )
}
_DECIMAL_JSON = re.compile(r"decimal\(\s*(\d+)\s*,\s*(-?\d+)\s*\)")


def from_json(value: str | dict[str, Any]) -> DataType:
    """Rebuild a type from ``DataType.jsonValue()`` output (or a ``json()`` string of a struct)."""
    if isinstance(value, str):
        if value.lstrip().startswith("{"):
            return from_json(json.loads(value))
        if value in _ATOMIC_BY_JSON_NAME:
            return _ATOMIC_BY_JSON_NAME[value]()
        if value == "decimal":
            return DecimalType()
        m = _DECIMAL_JSON.fullmatch(value)
        if m:
            return DecimalType(int(m.group(1)), int(m.group(2)))
    elif isinstance(value, dict):
        kind = value.get("type")
        if kind == "array":
            return ArrayType(from_json(value["elementType"]), value.get("containsNull", True))
        if kind == "map":
            return MapType(from_json(value["keyType"]), from_json(value["valueType"]),
                           value.get("valueContainsNull", True))
        if kind == "struct":
            return StructType([
                StructField(f["name"], from_json(f["type"]), f.get("nullable", True),
                            f.get("metadata") or {})
                for f in value.get("fields", [])
            ])
    msg = f"cannot read a data type from {value!r}\n\nexpected the output of DataType.jsonValue()"
    raise ValueError(msg)


def _type_from_string(text: str) -> DataType:
    """A JSON type name (``"integer"``) as PySpark's ``add`` takes, or else a DDL type."""
    if text in _ATOMIC_BY_JSON_NAME or _DECIMAL_JSON.fullmatch(text):
        return from_json(text)
    return parse_ddl(text)


# --- Arrow ------------------------------------------------------------------------------------

_TO_ARROW: dict[type[DataType], pa.DataType] = {
    NullType: pa.null(), StringType: pa.string(), BinaryType: pa.binary(),
    BooleanType: pa.bool_(), DateType: pa.date32(),
    # Timestamps are naive wall-clock microseconds in the session time zone
    TimestampType: pa.timestamp("us"), TimestampNTZType: pa.timestamp("us"),
    DoubleType: pa.float64(), FloatType: pa.float32(), ByteType: pa.int8(),
    ShortType: pa.int16(), IntegerType: pa.int32(), LongType: pa.int64(),
}


def to_arrow_type(dt: DataType) -> pa.DataType:
    """The Arrow type that holds values of ``dt``."""
    simple = _TO_ARROW.get(type(dt))
    if simple is not None:
        return simple
    if isinstance(dt, DecimalType):
        return pa.decimal128(dt.precision, dt.scale)
    if isinstance(dt, ArrayType):
        return pa.list_(pa.field("element", to_arrow_type(dt.elementType), dt.containsNull))
    if isinstance(dt, MapType):
        return pa.map_(pa.field("key", to_arrow_type(dt.keyType), nullable=False),
                       pa.field("value", to_arrow_type(dt.valueType), dt.valueContainsNull))
    if isinstance(dt, StructType):
        return pa.struct([_to_arrow_field(f) for f in dt.fields])
    msg = f"no Arrow type for {dt!r}"
    raise TypeError(msg)


def _to_arrow_field(f: StructField) -> pa.Field:
    return pa.field(f.name, to_arrow_type(f.dataType), nullable=f.nullable)


def to_arrow_schema(schema: StructType) -> pa.Schema:
    return pa.schema([_to_arrow_field(f) for f in schema.fields])


_FROM_ARROW: dict[pa.DataType, DataType] = {
    pa.null(): NullType(), pa.string(): StringType(), pa.large_string(): StringType(),
    pa.string_view(): StringType(), pa.binary(): BinaryType(), pa.large_binary(): BinaryType(),
    pa.binary_view(): BinaryType(), pa.bool_(): BooleanType(), pa.date32(): DateType(),
    pa.date64(): DateType(), pa.float64(): DoubleType(), pa.float32(): FloatType(),
    pa.int8(): ByteType(), pa.int16(): ShortType(), pa.int32(): IntegerType(),
    pa.int64(): LongType(),
    # Unsigned integers widen to the next signed type, as Spark's Parquet reader does
    pa.uint8(): ShortType(), pa.uint16(): IntegerType(), pa.uint32(): LongType(),
    pa.uint64(): DecimalType(20, 0),
}


def from_arrow_type(pa_type: pa.DataType) -> DataType:
    """The Spark type of an Arrow type; raises ``TypeError`` for types Spark has no match for."""
    simple = _FROM_ARROW.get(pa_type)
    if simple is not None:
        return simple
    t = pa.types
    if t.is_timestamp(pa_type):
        return TimestampType()
    if t.is_decimal(pa_type) and pa_type.precision <= MAX_DECIMAL_PRECISION:
        return DecimalType(pa_type.precision, pa_type.scale)
    if t.is_fixed_size_binary(pa_type):
        return BinaryType()
    if t.is_map(pa_type):
        return MapType(from_arrow_type(pa_type.key_type), from_arrow_type(pa_type.item_type),
                       pa_type.item_field.nullable)
    if (t.is_list(pa_type) or t.is_large_list(pa_type) or t.is_fixed_size_list(pa_type)
            or t.is_list_view(pa_type) or t.is_large_list_view(pa_type)):
        return ArrayType(from_arrow_type(pa_type.value_type), pa_type.value_field.nullable)
    if t.is_struct(pa_type):
        return StructType([_from_arrow_field(pa_type.field(i)) for i in range(pa_type.num_fields)])
    if t.is_dictionary(pa_type):
        return from_arrow_type(pa_type.value_type)
    msg = f"arrow type {pa_type} has no Spark SQL equivalent\n\ncast the column to a supported type"
    raise TypeError(msg)


def _from_arrow_field(f: pa.Field) -> StructField:
    return StructField(f.name, from_arrow_type(f.type), f.nullable)


def from_arrow_schema(schema: pa.Schema) -> StructType:
    return StructType([_from_arrow_field(f) for f in schema])


# --- DDL --------------------------------------------------------------------------------------

_ATOMIC_BY_DDL_NAME: dict[str, type[DataType]] = {
    "boolean": BooleanType, "bool": BooleanType,
    "tinyint": ByteType, "byte": ByteType,
    "smallint": ShortType, "short": ShortType,
    "int": IntegerType, "integer": IntegerType,
    "bigint": LongType, "long": LongType,
    "float": FloatType, "real": FloatType, "double": DoubleType,
    "string": StringType, "binary": BinaryType, "date": DateType,
    "timestamp": TimestampType, "timestamp_ltz": TimestampType,
    "timestamp_ntz": TimestampNTZType, "void": NullType,
}
_DECIMAL_NAMES = ("decimal", "dec", "numeric")
_LENGTH_STRING_NAMES = ("varchar", "char", "character")
_KNOWN_TYPE_NAMES = sorted([*_ATOMIC_BY_DDL_NAME, *_DECIMAL_NAMES, *_LENGTH_STRING_NAMES,
                            "array", "map", "struct"])

_DDL_HINT = 'a schema looks like "a INT, b ARRAY<STRING>"'
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<word>[A-Za-z0-9_]+)
  | (?P<quoted>`(?:[^`]|``)*`)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<punct>[<>(),:])
""", re.VERBOSE)


@dataclass(frozen=True)
class _Token:
    kind: str  # word, quoted, string, punct or end
    text: str
    pos: int

    @property
    def value(self) -> str:
        """The identifier a token names, with backquotes removed."""
        if self.kind == "quoted":
            return self.text[1:-1].replace("``", "`")
        return self.text


_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "0": "\0"}


def _unquote(literal: str) -> str:
    """The text of a quoted SQL string, with backslash escapes resolved."""
    return re.sub(r"\\(.)", lambda m: _STRING_ESCAPES.get(m.group(1), m.group(1)),
                  literal[1:-1])


class _DDLParser:
    """Recursive descent over ``schema := column (',' column)*`` and ``type``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize(text)
        self.i = 0

    def _tokenize(self, text: str) -> list[_Token]:
        tokens: list[_Token] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                self.fail(pos, f"unexpected character {text[pos]!r}", text[pos])
            kind = m.lastgroup or ""
            if kind != "space":
                tokens.append(_Token(kind, m.group(), pos))
            pos = m.end()
        tokens.append(_Token("end", "", len(text)))
        return tokens

    # helpers

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in words

    def at_punct(self, punct: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == punct

    def expect_punct(self, punct: str, what: str) -> None:
        if not self.at_punct(punct):
            self.fail_here(f"expected '{punct}' {what}")
        self.i += 1

    def fail_here(self, problem: str, hint: str = "") -> None:
        tok = self.tok
        found = "the end of the input" if tok.kind == "end" else repr(tok.text)
        self.fail(tok.pos, f"{problem}, found {found}", tok.text, hint)

    def fail(self, pos: int, problem: str, context: str, hint: str = "") -> None:
        line = self.text.count("\n", 0, pos) + 1
        line_start = self.text.rfind("\n", 0, pos) + 1
        column = pos - line_start + 1
        line_end = self.text.find("\n", pos)
        source = self.text[line_start:] if line_end < 0 else self.text[line_start:line_end]
        marker = " " * (column - 1) + "^" * max(1, len(context))
        msg = (f"{problem} (line {line}, column {column})\n  {source}\n  {marker}\n\n"
               f"{hint or _DDL_HINT}")
        raise ParseException(msg, line=line, column=column, context=context or None)

    # grammar

    def schema(self) -> StructType:
        fields = [self.field(top_level=True)]
        while self.at_punct(","):
            self.i += 1
            fields.append(self.field(top_level=True))
        if self.tok.kind != "end":
            self.fail_here("expected ',' or the end of the schema")
        return StructType(fields)

    def lone_type(self) -> DataType:
        dt = self.data_type()
        if self.tok.kind != "end":
            self.fail_here("expected the end of the data type")
        return dt

    def field(self, *, top_level: bool) -> StructField:
        tok = self.tok
        if tok.kind not in ("word", "quoted"):
            self.fail_here("expected a column name" if top_level else "expected a field name")
        self.i += 1
        name = tok.value
        if self.at_punct(":"):
            self.i += 1
        if self.tok.kind == "end" or self.at_punct(",") or self.at_punct(">"):
            self.fail_here(f"expected a data type after {name!r}")
        dt = self.data_type()
        nullable = True
        if self.at_word("not"):
            self.i += 1
            if not self.at_word("null"):
                self.fail_here("expected NULL after NOT")
            self.i += 1
            nullable = False
        metadata: dict[str, Any] = {}
        if self.at_word("comment"):
            self.i += 1
            if self.tok.kind != "string":
                self.fail_here("expected a quoted string after COMMENT")
            metadata["comment"] = _unquote(self.next().text)
        return StructField(name, dt, nullable, metadata)

    def data_type(self) -> DataType:
        tok = self.tok
        if tok.kind != "word":
            self.fail_here("expected a data type")
        self.i += 1
        name = tok.text.lower()
        atomic = _ATOMIC_BY_DDL_NAME.get(name)
        if atomic is not None:
            return atomic()
        if name in _DECIMAL_NAMES:
            return self.decimal_args(tok)
        if name in _LENGTH_STRING_NAMES:
            # Spark reads VARCHAR(n)/CHAR(n) columns as plain strings
            if self.at_punct("("):
                self.i += 1
                self.integer("a length")
                self.expect_punct(")", "to close the length")
            return StringType()
        if name == "array":
            self.expect_punct("<", "after ARRAY")
            element = self.data_type()
            self.expect_punct(">", "to close ARRAY<")
            return ArrayType(element, True)
        if name == "map":
            self.expect_punct("<", "after MAP")
            key = self.data_type()
            self.expect_punct(",", "between the key and value types of MAP<")
            value = self.data_type()
            self.expect_punct(">", "to close MAP<")
            return MapType(key, value, True)
        if name == "struct":
            self.expect_punct("<", "after STRUCT")
            fields: list[StructField] = []
            if not self.at_punct(">"):
                fields.append(self.field(top_level=False))
                while self.at_punct(","):
                    self.i += 1
                    fields.append(self.field(top_level=False))
            self.expect_punct(">", "to close STRUCT<")
            return StructType(fields)
        close = difflib.get_close_matches(name, _KNOWN_TYPE_NAMES, n=3, cutoff=0.6)
        hint = (f"did you mean {' or '.join(repr(c) for c in close)}?" if close
                else f"known types: {', '.join(_KNOWN_TYPE_NAMES)}")
        self.fail(tok.pos, f"{name!r} is not a known data type", tok.text, hint)
        raise AssertionError("unreachable")

    def decimal_args(self, tok: _Token) -> DecimalType:
        if not self.at_punct("("):
            return DecimalType(10, 0)
        self.i += 1
        precision = self.integer("a precision")
        scale = 0
        if self.at_punct(","):
            self.i += 1
            scale = self.integer("a scale")
        self.expect_punct(")", "to close DECIMAL(")
        if not 1 <= precision <= MAX_DECIMAL_PRECISION or not 0 <= scale <= precision:
            self.fail(tok.pos, f"decimal({precision},{scale}) is not a valid decimal type",
                      tok.text, f"precision must be 1..{MAX_DECIMAL_PRECISION} "
                      "and scale 0..precision")
        return DecimalType(precision, scale)

    def integer(self, what: str) -> int:
        if self.tok.kind != "word" or not self.tok.text.isdigit():
            self.fail_here(f"expected {what}")
        return int(self.next().text)


def parse_ddl(ddl: str) -> DataType:
    """Parse a DDL schema (``"a INT, b STRING"``) or a lone type (``"array<int>"``).

    A column list gives a ``StructType``; a lone type name gives that type, as PySpark's
    ``_parse_datatype_string`` does. Errors raise ``ParseException`` with line and column.

    >>> parse_ddl("map<string, bigint>")
    MapType(StringType(), LongType(), True)
    """
    if not ddl.strip():
        return StructType([])
    errors: list[ParseException] = []
    for mode in ("lone_type", "schema"):
        parser = _DDLParser(ddl)
        try:
            return parser.lone_type() if mode == "lone_type" else parser.schema()
        except ParseException as exc:
            errors.append(exc)
            single_word = len(parser.tokens) == 2 and parser.tokens[0].kind == "word"
            if single_word:
                # "intt" alone is a misspelt type, not a column lacking its type
                raise
    # the parse that got further explains the problem better
    lone, schema = errors
    if (lone.line or 0, lone.column or 0) > (schema.line or 0, schema.column or 0):
        raise lone
    raise schema
