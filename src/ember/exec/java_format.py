"""Java's text for floating-point numbers, as Spark prints and casts them.

``Double.toString`` gives plain decimals for 1e-3 <= |x| < 1e7 and ``d.dddE±n`` otherwise,
always with a fractional part (``1.0``), using the shortest digits that read back exactly.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable

import numpy as np

__all__ = ["format_double", "format_float"]


def format_double(x: float) -> str:
    """``x`` as Java's ``Double.toString`` writes it: ``1.0``, ``0.001``, ``1.0E7``, ``1.0E-4``.

    Plain notation for 1e-3 <= |x| < 1e7, otherwise ``d.dddE±n``; the digits are the
    shortest that read back as ``x``.

    >>> [format_double(v) for v in (1.0, 1e7, 1.234e-5, float("nan"), -0.0)]
    ['1.0', '1.0E7', '1.234E-5', 'NaN', '-0.0']
    """
    return _java_float_text(float(x), repr(float(x)), lambda s: float(s) == x)


def format_float(x: float) -> str:
    """``x`` rounded to 32 bits and written as Java's ``Float.toString`` writes it.

    >>> format_float(1.100000023841858)
    '1.1'
    """
    single = np.float32(x)
    return _java_float_text(float(single), str(single), lambda s: np.float32(s) == single)


def _java_float_text(x: float, shortest: str, reads_back: Callable[[str], bool]) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    digits, exponent = _digits(abs(decimal.Decimal(shortest)))
    if len(digits) == 1:
        # Java writes at least two significant digits and picks the closest such pair, which
        # differs from "d.0" only for subnormals (Double.MIN_VALUE is 4.9E-324, not 5.0E-324)
        exact = abs(decimal.Decimal(x))
        two = exact.quantize(decimal.Decimal(1).scaleb(exact.adjusted() - 1),
                             rounding=decimal.ROUND_HALF_EVEN)
        two_digits, two_exponent = _digits(two)
        if len(two_digits) == 2 and reads_back(f"{sign}{two}"):
            digits, exponent = two_digits, two_exponent
    # value = 0.d1d2d3... * 10**point
    point = exponent + len(digits)
    if 1e-3 <= abs(x) < 1e7:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}.0"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{point - 1}"


def _digits(value: decimal.Decimal) -> tuple[str, int]:
    """Significant digits without trailing zeros, and the exponent of the last one."""
    _, digit_tuple, exponent = value.as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent = int(exponent) + len(digit_tuple) - len(digits)
    return digits or "0", exponent
