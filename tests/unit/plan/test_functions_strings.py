"""String kernels on small Arrow arrays, against values Spark gives."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from ember.plan import functions


def call(name: str, *columns: list[Any] | pa.Array) -> list[Any]:
    arrays = [c if isinstance(c, pa.Array) else pa.array(c) for c in columns]
    return functions.lookup(name).kernel(arrays).to_pylist()


def rows(value: Any, n: int) -> list[Any]:
    return [value] * n


CASES = [
    # (function, arguments, expected)
    ("lpad", (["hi", "hello", None, ""], rows(5, 4), rows("ab", 4)),
     ["abahi", "hello", None, "ababa"]),
    ("rpad", (["hi", "hello", None], rows(5, 3), rows("ab", 3)), ["hiaba", "hello", None]),
    ("lpad", (["hello"], [2], ["x"]), ["he"]),
    ("lpad", (["hi"], [-1], ["x"]), [""]),
    ("lpad", (["hi"], [5], [""]), ["hi"]),
    ("substring", (["hello", None], [2, 2], [3, 3]), ["ell", None]),
    ("substring", (["hello", "hi"], [0, 0], [2, 2]), ["he", "hi"]),
    ("substring", (["hello", "hi"], [-3, -3], [2, 2]), ["ll", "h"]),
    ("substring", (["hello", "hi"], [-5, -5], [3, 3]), ["hel", ""]),
    ("substring", (["hello"], [2], [-1]), [""]),
    ("substring", (["hello", "abc"], [2, 1], [2, 5]), ["el", "abc"]),
    ("trim", (["  a b  ", None],), ["a b", None]),
    ("ltrim", (["  a  "],), ["a  "]),
    ("rtrim", (["  a  "],), ["  a"]),
    ("trim", (["xxaxx"], ["x"]), ["a"]),
    ("concat_ws", ([",", ",", None], ["a", None, "a"], ["b", "c", "b"]), ["a,b", "c", None]),
    ("concat_ws", ([","], pa.array([["x", None, "y"]]), ["z"]), ["x,y,z"]),
    ("regexp_replace", (["a1b22c", None], rows(r"(\d+)", 2), rows("<$1>", 2)),
     ["a<1>b<22>c", None]),
    ("regexp_replace", (["100-200"], [r"(\d+)"], ["num"]), ["num-num"]),
    ("regexp_extract", (["foo123bar45", "none", None], rows(r"(\d+)[a-z]*(\d+)", 3),
                        rows(2, 3)), ["45", "", None]),
    ("regexp_extract", (["foo123"], [r"(\d+)"], [0]), ["123"]),
    ("regexp_extract", (["ab"], [r"(a)|(z)"], [2]), [""]),
    ("instr", (["héllo", "abc", None], rows("llo", 3)), [3, 0, None]),
    ("locate", (rows("l", 3), ["héllo", "abc", None], rows(4, 3)), [4, 0, None]),
    ("locate", (["l"], ["hello"], [0]), [0]),
    ("initcap", (["hELLO wORLD-foo  bar", None],), ["Hello World-foo  Bar", None]),
    ("reverse", (["héllo", None],), ["olléh", None]),
    ("translate", (["abcabc", None], rows("abc", 2), rows("bx", 2)), ["bxbx", None]),
    ("translate", (["aab"], ["ab"], ["ba"]), ["bba"]),
    ("startswith", (["abc", "xbc", None], rows("ab", 3)), [True, False, None]),
    ("endswith", (["abc", "abd"], rows("bc", 2)), [True, False]),
    ("contains", (["abc", "xyz"], rows("b", 2)), [True, False]),
    ("format_string", (["%s-%05d-%.2f %b %x"], ["a"], [42], [3.14159], [True], [255]),
     ["a-00042-3.14 true ff"]),
    ("format_string", (["%s and %s"], ["a"], pa.array([None], pa.string())), ["a and null"]),
    ("length", (["héllo", None],), [5, None]),
]


@pytest.mark.parametrize(("name", "args", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_string_function_matches_spark(name: str, args: tuple[Any, ...], expected: list[Any]) -> None:
    assert call(name, *args) == expected


def test_parameters_that_differ_by_row_fall_back_to_python_and_agree() -> None:
    assert call("lpad", ["a", "b"], [3, 2], ["x", "yz"]) == ["xxa", "yb"]
    assert call("substring", ["hello", "hello"], [1, -2], [2, 5]) == ["he", "lo"]
    assert call("regexp_replace", ["a1", "b2"], [r"\d", "b"], ["#", "$0"]) == ["a#", "b2"]
    assert call("startswith", ["abc", "abc"], ["a", "b"]) == [True, False]


def test_regexp_extract_rejects_a_group_the_pattern_lacks() -> None:
    with pytest.raises(ValueError, match="out of range"):
        call("regexp_extract", ["abc"], ["(a)"], [2])


def test_java_replacement_syntax_becomes_re2s() -> None:
    from ember.plan.string_functions import java_replacement

    assert java_replacement("$1-$2") == r"\1-\2"
    assert java_replacement(r"\$1") == "$1"
    assert java_replacement("a\\\\b") == "a\\\\b"
