from __future__ import annotations

import copy
import pickle

import cloudpickle
import pytest

from ember.sql.row import Row, make_row


def test_keyword_row_keeps_order_and_allows_every_kind_of_access() -> None:
    row = Row(name="Alice", age=1)
    assert row.__fields__ == ["name", "age"]
    assert row.name == "Alice"
    assert row["age"] == 1
    assert row[0] == "Alice"
    assert row[-1] == 1
    assert row[0:1] == ("Alice",)
    assert tuple(row) == ("Alice", 1)
    assert len(row) == 2
    assert isinstance(row, tuple)


def test_repr_of_named_and_positional_rows() -> None:
    assert repr(Row(name="Alice", age=1)) == "Row(name='Alice', age=1)"
    assert repr(Row(a=None, b="x'y")) == "Row(a=None, b=\"x'y\")"
    assert repr(Row(a=Row(b=[1]))) == "Row(a=Row(b=[1]))"
    assert repr(Row("a", 1)) == "<Row('a', 1)>"
    assert repr(Row()) == "<Row()>"


def test_row_factory_makes_rows() -> None:
    person = Row("name", "age")
    bob = person("Bob", 2)
    assert repr(bob) == "Row(name='Bob', age=2)"
    assert bob.age == 2
    with pytest.raises(ValueError, match="cannot make a row of 1 values with 2 field names"):
        person("Bob")


def test_contains_checks_field_names_not_values() -> None:
    row = Row(name="Alice", age=1)
    assert "name" in row
    assert "Alice" not in row
    assert "Alice" in Row("Alice", 1)  # a positional row has no names: it checks values


def test_as_dict_plain_and_recursive() -> None:
    row = Row(a=Row(b=[Row(c=1)]), d={"k": Row(e=2)})
    assert row.asDict() == {"a": Row(b=[Row(c=1)]), "d": {"k": Row(e=2)}}
    assert row.asDict(recursive=True) == {"a": {"b": [{"c": 1}]}, "d": {"k": {"e": 2}}}
    with pytest.raises(TypeError, match="no field names"):
        Row(1, 2).asDict()


def test_rows_compare_and_hash_as_tuples() -> None:
    row = Row(name="Alice", age=1)
    assert row == ("Alice", 1)
    assert hash(row) == hash(("Alice", 1))
    assert Row(a=1) == Row(b=1)  # as in PySpark: names do not take part
    assert Row(a=1) != Row(a=2)
    assert sorted([Row(a=2), Row(a=1)]) == [Row(a=1), Row(a=2)]


def test_missing_field_errors_name_the_fields() -> None:
    row = Row(name="Alice", age=1)
    with pytest.raises(AttributeError, match="row has no field 'zz'\n\nfields: name, age"):
        row.zz  # noqa: B018
    with pytest.raises(ValueError, match="row has no field 'zz'"):
        row["zz"]
    with pytest.raises(ValueError, match="fields: \\(none\\)"):
        Row(1)["a"]


def test_tuple_methods_win_over_field_names() -> None:
    row = Row(count=5)
    assert row["count"] == 5
    assert callable(row.count)


def test_rows_are_read_only() -> None:
    row = Row(a=1)
    with pytest.raises(RuntimeError, match="read-only"):
        row.a = 2


def test_args_and_kwargs_together_are_rejected() -> None:
    with pytest.raises(ValueError, match="not both"):
        Row(1, a=2)


def test_duplicate_field_names_resolve_to_the_first() -> None:
    row = make_row(["id", "id", "v"], (1, 2, "x"))
    assert row.id == 1
    assert row["id"] == 1
    assert row[1] == 2
    assert repr(row) == "Row(id=1, id=2, v='x')"
    assert row.asDict() == {"id": 2, "v": "x"}  # dict() keeps the last, as PySpark's


def test_fast_constructor_shares_field_list() -> None:
    fields = ["a", "b"]
    rows = [Row._from_values((i, i * 2), fields) for i in range(3)]
    assert rows[2].b == 4
    assert all(r.__fields__ is fields for r in rows)
    with pytest.raises(ValueError, match="got 1 values for 2 fields"):
        make_row(fields, (1,))


@pytest.mark.parametrize("dumps_loads", [
    lambda r: pickle.loads(pickle.dumps(r)),
    lambda r: cloudpickle.loads(cloudpickle.dumps(r)),
    copy.copy,
    copy.deepcopy,
])
def test_rows_survive_pickling_and_copying(dumps_loads: object) -> None:
    for row in (Row(name="Alice", age=1), Row("a", "b"), make_row(["x", "x"], (1, 2)),
                Row(a=Row(b=1))):
        copied = dumps_loads(row)  # type: ignore[operator]
        assert copied == row
        assert repr(copied) == repr(row)
        assert type(copied) is Row
