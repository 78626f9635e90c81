from __future__ import annotations

import pyarrow as pa
import pytest

from ember.plan.typesys import common_type, comparison_type


@pytest.mark.parametrize(("a", "b", "expected"), [
    (pa.int32(), pa.int64(), pa.int64()),
    (pa.int64(), pa.float64(), pa.float64()),
    (pa.null(), pa.date32(), pa.date32()),
    # Spark widens a string and a number or date to a string (findWiderTypeForTwo) ...
    (pa.string(), pa.int32(), pa.string()),
    (pa.float64(), pa.string(), pa.string()),
    (pa.date32(), pa.string(), pa.string()),
    # ... but never a boolean.
    (pa.string(), pa.bool_(), None),
    (pa.bool_(), pa.int32(), None),
])
def test_common_type_of_combined_values(a: pa.DataType, b: pa.DataType,
                                        expected: pa.DataType | None) -> None:
    assert common_type(a, b) == expected


@pytest.mark.parametrize(("a", "b", "expected"), [
    # Comparing a string with another atomic value casts the string (non-ANSI Spark).
    (pa.string(), pa.int32(), pa.int32()),
    (pa.float64(), pa.string(), pa.float64()),
    (pa.string(), pa.date32(), pa.date32()),
    (pa.bool_(), pa.string(), pa.bool_()),
    (pa.string(), pa.string(), pa.string()),
    (pa.string(), pa.null(), pa.string()),
])
def test_comparison_type_casts_the_string_side(a: pa.DataType, b: pa.DataType,
                                               expected: pa.DataType) -> None:
    assert comparison_type(a, b) == expected
