"""``Row``: a tuple whose positions also have names, as ``pyspark.sql.Row``.

>>> r = Row(name="Alice", age=1)
>>> r
Row(name='Alice', age=1)
>>> r.name, r["age"], r[0]
('Alice', 1, 'Alice')
>>> Person = Row("name", "age")
>>> Person("Bob", 2)
Row(name='Bob', age=2)
"""

from __future__ import annotations

from typing import Any

__all__ = ["Row", "make_row"]


class Row(tuple):
    """A row of a DataFrame.

    ``Row(a=1, b=2)`` makes a row with fields ``a`` and ``b`` in that order. ``Row("a", "b")``
    makes a row *factory*: calling it with values makes rows with those field names. Rows
    compare and hash as plain tuples. Rows from joins may repeat a field name; looking a
    name up then finds its first position.
    """

    __fields__: list[str]

    def __new__(cls, *args: Any, **kwargs: Any) -> Row:
        if args and kwargs:
            msg = ("Row takes either values (Row('a', 'b')) or named values (Row(a=1)), "
                   "not both\n\nuse Row(**{...}) to name every value")
            raise ValueError(msg)
        if kwargs:
            return make_row(list(kwargs), tuple(kwargs.values()))
        return tuple.__new__(cls, args)

    @classmethod
    def _from_values(cls, values: tuple[Any, ...] | list[Any], fields: list[str]) -> Row:
        """Build a row without checks; ``fields`` may be shared between many rows."""
        row = tuple.__new__(cls, values)
        row.__dict__["__fields__"] = fields
        return row

    def _field_names(self) -> list[str] | None:
        return self.__dict__.get("__fields__")

    def asDict(self, recursive: bool = False) -> dict[str, Any]:
        """The row as a ``dict``; ``recursive=True`` also turns nested rows into dicts."""
        fields = self._field_names()
        if fields is None:
            msg = ("this row has no field names, so it cannot become a dict\n\n"
                   "make it with Row(name=value, ...) or a row factory")
            raise TypeError(msg)
        if not recursive:
            return dict(zip(fields, self, strict=True))
        return {name: _as_plain(value) for name, value in zip(fields, self, strict=True)}

    def __contains__(self, item: object) -> bool:
        fields = self._field_names()
        if fields is None:
            return tuple.__contains__(self, item)
        return item in fields

    def __call__(self, *args: Any) -> Row:
        """Make a row from a factory row: its values become the new row's field names."""
        if len(args) != len(self):
            msg = (f"cannot make a row of {len(args)} values with {len(self)} field names "
                   f"{list(self)!r}\n\npass exactly {len(self)} values")
            raise ValueError(msg)
        return make_row(list(self), args)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, str):
            return tuple.__getitem__(self, self._index_of(item))
        return tuple.__getitem__(self, item)

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__"):
            raise AttributeError(item)
        fields = self.__dict__.get("__fields__")
        if fields is not None and item in fields:
            return tuple.__getitem__(self, fields.index(item))
        names = ", ".join(fields) if fields else "(none)"
        msg = f"row has no field {item!r}\n\nfields: {names}"
        raise AttributeError(msg)

    def __setattr__(self, key: str, value: Any) -> None:
        if key != "__fields__":
            msg = "a Row is read-only\n\nbuild a new Row with the changed values"
            raise RuntimeError(msg)
        self.__dict__[key] = value

    def _index_of(self, name: str) -> int:
        fields = self._field_names()
        if fields is not None and name in fields:
            return fields.index(name)
        names = ", ".join(fields) if fields else "(none)"
        msg = f"row has no field {name!r}\n\nfields: {names}"
        raise ValueError(msg)

    def __reduce__(self) -> tuple[Any, ...]:
        fields = self._field_names()
        if fields is not None:
            return (make_row, (list(fields), tuple(self)))
        return (Row, tuple(self))

    def __repr__(self) -> str:
        fields = self._field_names()
        if fields is not None:
            body = ", ".join(f"{name}={value!r}" for name, value in zip(fields, self, strict=True))
            return f"Row({body})"
        return f"<Row({', '.join(repr(value) for value in self)})>"

    # tuple's own __eq__/__hash__ apply: Row(a=1) == Row(b=1) == (1,), as in PySpark
    __eq__ = tuple.__eq__
    __hash__ = tuple.__hash__


def make_row(fields: list[str], values: tuple[Any, ...] | list[Any]) -> Row:
    """A row with the given field names and values (the engine's fast constructor)."""
    if len(fields) != len(values):
        msg = (f"a row needs one value per field: got {len(values)} values for "
               f"{len(fields)} fields {fields!r}")
        raise ValueError(msg)
    return Row._from_values(values, fields)


def _as_plain(value: Any) -> Any:
    if isinstance(value, Row) and value._field_names() is not None:
        return value.asDict(recursive=True)
    if isinstance(value, list):
        return [_as_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_plain(v) for k, v in value.items()}
    return value
