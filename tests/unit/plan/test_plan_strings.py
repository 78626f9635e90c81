"""How expressions print inside plans: attributes carry their ids, as in Spark's explain."""

from __future__ import annotations

import pyarrow as pa

from ember.plan.expressions import (
    AggregateCall,
    Alias,
    AttributeReference,
    BinaryOp,
    Call,
    Cast,
    UnresolvedAttribute,
    literal,
)
from ember.plan.logical import expr_string


def test_two_columns_of_the_same_name_keep_their_own_ids() -> None:
    left, right = AttributeReference("k", pa.int64()), AttributeReference("k", pa.int64())
    assert expr_string(BinaryOp("=", left, right)) == \
        f"(k#{left.expr_id}L = k#{right.expr_id}L)"


def test_string_literal_equal_to_a_column_name_is_left_alone() -> None:
    name = AttributeReference("name", pa.string())
    assert expr_string(BinaryOp("=", name, literal("name"))) == f"(name#{name.expr_id} = name)"


def test_attributes_inside_function_arguments_carry_ids() -> None:
    a = AttributeReference("a", pa.int32())
    assert expr_string(Call("upper", (a,))) == f"upper(a#{a.expr_id})"
    assert expr_string(AggregateCall("sum", (a,))) == f"sum(a#{a.expr_id})"


def test_bigint_alias_is_marked_like_a_bigint_attribute() -> None:
    a = AttributeReference("a", pa.int32())
    wide = Alias(Cast(a, pa.int64()), "w")
    narrow = Alias(a, "n")
    assert expr_string(wide) == f"CAST(a#{a.expr_id} AS BIGINT) AS w#{wide.expr_id}L"
    assert expr_string(narrow) == f"a#{a.expr_id} AS n#{narrow.expr_id}"


def test_unresolved_alias_prints_without_a_type() -> None:
    alias = Alias(UnresolvedAttribute(("q",)), "n")
    assert expr_string(alias).endswith(f"q AS n#{alias.expr_id}")
