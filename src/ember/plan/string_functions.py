"""String functions with Spark's semantics: positions are 1-based and count characters, a null
argument gives null, and literal parameters (patterns, pad strings) take vectorised paths.

Regular expressions: Spark uses ``java.util.regex``; ember runs patterns with RE2 (Arrow's regex
engine), which accepts the common syntax (classes, quantifiers, groups, ``(?i)`` flags, ``\\d``,
``\\w``, ``\\s``, ``\\b``) but not look-ahead or look-behind (``(?=``, ``(?<=``), back-references
(``\\1`` in a pattern), possessive quantifiers (``a*+``) or atomic groups; such patterns fail
with RE2's error. Where a pattern differs per row, Python's ``re`` runs it instead. In
replacement strings Java's ``$1`` becomes RE2's ``\\1``; ``${name}`` is not supported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ember.errors import AnalysisException
from ember.plan.arguments import NOT_CONSTANT, constant, ints, per_row
from ember.plan.functions import FunctionSpec, register

_INT_MAX = 2**31 - 1


def _string(_: list[pa.DataType]) -> pa.DataType:
    return pa.string()


def _strings(n: int) -> dict[str, Any]:
    return {"min_args": n, "max_args": n, "coerce": lambda ts: [pa.string()] * len(ts)}


def _null_where_any_null(out: pa.Array, *args: pa.Array) -> pa.Array:
    for a in args:
        if a.null_count:
            out = pc.if_else(pc.is_null(a), pa.scalar(None, out.type), out)
    return out


# ---------------------------------------------------------------------------------------------
# trim, ltrim, rtrim: spaces only, or the characters of a second argument


def _trim(fn_name: str) -> FunctionSpec:
    fn = getattr(pc, fn_name)

    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        values = args[0]
        chars = " " if len(args) == 1 else constant(args[1])
        if chars is NOT_CONSTANT:
            strip = {"utf8_trim": str.strip, "utf8_ltrim": str.lstrip,
                     "utf8_rtrim": str.rstrip}[fn_name]
            return per_row(lambda s, c: strip(s, c), args, pa.string())
        if chars is None:
            return pa.nulls(len(values), pa.string())
        return fn(values, characters=chars) if chars else values

    name = fn_name.removeprefix("utf8_")
    return FunctionSpec(name, _string, kernel, max_args=2,
                        coerce=lambda ts: [pa.string()] * len(ts))


for _fn in ("utf8_trim", "utf8_ltrim", "utf8_rtrim"):
    register(_trim(_fn))


# ---------------------------------------------------------------------------------------------
# lpad, rpad


def _pad_one(s: str, n: int, pad: str, left: bool) -> str:
    """Spark's rule: cut to ``n`` characters, or pad with repetitions of ``pad``."""
    if n <= 0:
        return ""
    missing = n - len(s)
    if missing <= 0 or not pad:
        return s[:n]
    fill = (pad * (missing // len(pad) + 1))[:missing]
    return fill + s if left else s + fill


def _pad(left: bool) -> FunctionSpec:
    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        values, width, pad = args[0], args[1], args[2] if len(args) > 2 else pa.array(
            [" "] * len(args[0]))
        n, fill = constant(width), constant(pad)
        if n is NOT_CONSTANT or fill is NOT_CONSTANT or (n is not None and n > 4096):
            return per_row(lambda s, k, p: _pad_one(s, k, p, left), [values, width, pad],
                           pa.string())
        if n is None or fill is None:
            return pa.nulls(len(values), pa.string())
        if n <= 0:
            return pc.if_else(pc.is_null(values), pa.scalar(None, pa.string()), "")
        cut = pc.utf8_slice_codeunits(values, 0, n)
        if not fill:
            return cut
        missing = np.clip(n - ints(pc.utf8_length(cut)), 0, n)
        full = (fill * (n // len(fill) + 1))[:n]
        prefixes = pa.array([full[:k] for k in range(n + 1)]).take(pa.array(missing))
        parts = (prefixes, cut) if left else (cut, prefixes)
        return pc.binary_join_element_wise(*parts, "")

    return FunctionSpec("lpad" if left else "rpad", _string, kernel, min_args=2, max_args=3,
                        coerce=lambda ts: [pa.string(), pa.int32(), pa.string()][:len(ts)])


register(_pad(True))
register(_pad(False))


# ---------------------------------------------------------------------------------------------
# substring: 1-based, 0 is the first character, a negative start counts from the end


def _substring_one(s: str, pos: int, length: int) -> str:
    n = len(s)
    start = pos - 1 if pos > 0 else (n + pos if pos < 0 else 0)
    end = start + length
    start = max(start, 0)
    return "" if start >= end else s[start:end]


def _substring(args: Sequence[pa.Array]) -> pa.Array:
    values = args[0]
    pos = constant(args[1])
    length = constant(args[2]) if len(args) > 2 else _INT_MAX
    if pos is NOT_CONSTANT or length is NOT_CONSTANT:
        full = list(args) if len(args) > 2 else [*args, pa.array([_INT_MAX] * len(values))]
        return per_row(_substring_one, full, pa.string())
    if pos is None or length is None:
        return pa.nulls(len(values), pa.string())
    if length <= 0:
        return pc.if_else(pc.is_null(values), pa.scalar(None, pa.string()), "")
    if pos >= 0:
        start = max(pos - 1, 0)
        return pc.utf8_slice_codeunits(values, start, min(start + length, _INT_MAX))
    # pos < 0: strings at least -pos long start -pos from the end; shorter ones start at 0
    # and lose as many characters at the end as the start is before the beginning.
    stop = pos + length
    long_enough = pc.greater_equal(pc.utf8_length(values), -pos)
    from_end = (pc.utf8_slice_codeunits(values, pos, stop) if stop < 0
                else pc.utf8_slice_codeunits(values, pos))
    from_start = pc.utf8_slice_codeunits(values, 0, stop) if stop < 0 else values
    return pc.if_else(long_enough, from_end, from_start)


def _substring_sql(args: list[str]) -> str:
    return f"substring({', '.join(args + ([] if len(args) > 2 else [str(_INT_MAX)]))})"


for _name in ("substring", "substr"):
    register(FunctionSpec(_name, _string, _substring, min_args=2, max_args=3,
                          coerce=lambda ts: [pa.string(), pa.int32(), pa.int32()][:len(ts)],
                          sql=_substring_sql))


# ---------------------------------------------------------------------------------------------
# concat_ws: skips null arguments and null array elements


def _concat_ws_types(types: list[pa.DataType]) -> list[pa.DataType]:
    out = [pa.string()]
    for t in types[1:]:
        out.append(pa.list_(pa.string()) if pa.types.is_list(t) or pa.types.is_large_list(t)
                   else pa.string())
    return out


def _joined(lists: pa.Array, sep: pa.Array) -> pa.Array:
    """Each list's non-null elements joined; null for null or empty lists (so they are skipped)."""
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    values = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    keep = pc.is_valid(values).to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[keep], minlength=len(lists)) if len(lengths) else lengths
    offsets = np.zeros(len(lists) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    compact = pa.ListArray.from_arrays(pa.array(offsets), values.filter(pa.array(keep)))
    out = pc.binary_join(compact, sep)
    return pc.if_else(pc.equal(pa.array(counts), 0), pa.scalar(None, pa.string()), out)


def _concat_ws(args: Sequence[pa.Array]) -> pa.Array:
    sep, *parts = args
    if not parts:
        return pc.if_else(pc.is_null(sep), pa.scalar(None, pa.string()), "")
    strings = [_joined(p, sep) if pa.types.is_list(p.type) else p for p in parts]
    out = pc.binary_join_element_wise(*strings, sep, null_handling="skip")
    return pc.if_else(pc.is_null(sep), pa.scalar(None, pa.string()), out)


register(FunctionSpec("concat_ws", _string, _concat_ws, min_args=1, max_args=None,
                      coerce=_concat_ws_types))


# ---------------------------------------------------------------------------------------------
# Regular expressions


def java_replacement(replacement: str) -> str:
    """Java's replacement syntax (``$1``, ``\\$``) as RE2's (``\\1``, ``$``)."""
    out = []
    i = 0
    while i < len(replacement):
        ch = replacement[i]
        if ch == "\\" and i + 1 < len(replacement):
            nxt = replacement[i + 1]
            out.append("\\\\" if nxt == "\\" else nxt)
            i += 2
        elif ch == "$" and i + 1 < len(replacement) and replacement[i + 1].isdigit():
            out.append("\\" + replacement[i + 1])
            i += 2
        elif ch == "$" and replacement[i + 1:i + 2] == "{":
            msg = f"named group references such as {replacement!r} are not supported"
            raise ValueError(msg)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _python_replacement(replacement: str) -> str:
    return re.sub(r"\\(\d)", r"\\g<\1>", java_replacement(replacement))


def _regexp_replace(args: Sequence[pa.Array]) -> pa.Array:
    values, pattern, replacement = args[:3]
    pos = constant(args[3]) if len(args) > 3 else 1
    pat, rep = constant(pattern), constant(replacement)
    if NOT_CONSTANT in (pat, rep, pos):
        def one(s: str, p: str, r: str, start: int = 1) -> str:
            head, tail = s[:start - 1], s[start - 1:]
            return head + re.sub(p, _python_replacement(r), tail) if start <= len(s) else s

        return per_row(one, args, pa.string())
    if pat is None or rep is None or pos is None:
        return pa.nulls(len(values), pa.string())
    if pos < 1:
        msg = f"the position of regexp_replace must be at least 1, got {pos}"
        raise ValueError(msg)
    rewrite = java_replacement(rep)
    if pos == 1:
        return pc.replace_substring_regex(values, pattern=pat, replacement=rewrite)
    head = pc.utf8_slice_codeunits(values, 0, pos - 1)
    tail = pc.replace_substring_regex(pc.utf8_slice_codeunits(values, pos - 1), pattern=pat,
                                      replacement=rewrite)
    replaced = pc.binary_join_element_wise(head, tail, "")
    return pc.if_else(pc.greater_equal(pc.utf8_length(values), pos), replaced, values)


register(FunctionSpec("regexp_replace", _string, _regexp_replace, min_args=3, max_args=4,
                      coerce=lambda ts: [pa.string()] * 3 + [pa.int32()] * (len(ts) - 3),
                      sql=lambda a: f"regexp_replace({', '.join(a + ['1'][:4 - len(a)])})"))


def _group_count(pattern: str) -> int | None:
    try:
        return re.compile(pattern).groups
    except re.error:
        return None


def _extract_one(s: str, pattern: str, idx: int) -> str:
    m = re.search(pattern, s)
    if m is None:
        return ""
    if idx > len(m.groups()):
        msg = f"regexp_extract group {idx} does not exist in {pattern!r}"
        raise ValueError(msg)
    return m.group(idx) or ""


def _regexp_extract(args: Sequence[pa.Array]) -> pa.Array:
    """The ``idx``-th group of the first match; the empty string without a match (or when the
    group took no part in it), as Spark."""
    values, pattern = args[:2]
    pat = constant(pattern)
    idx = constant(args[2]) if len(args) > 2 else 1
    if pat is NOT_CONSTANT or idx is NOT_CONSTANT or (isinstance(idx, int) and idx > 8):
        full = list(args) if len(args) > 2 else [*args, pa.array([1] * len(values))]
        return per_row(_extract_one, full, pa.string())
    if pat is None or idx is None:
        return pa.nulls(len(values), pa.string())
    groups = _group_count(pat)
    if idx < 0 or (groups is not None and idx > groups):
        msg = (f"regexp_extract group index {idx} is out of range: the pattern {pat!r} has "
               f"{groups} group(s)")
        raise ValueError(msg)
    found = pc.match_substring_regex(values, pattern=pat)
    # The user's pattern is group 1 of a whole-string match, so its groups shift by one.
    whole = f"^(?s:.*?)({pat})(?s:.*)$"
    picked = pc.replace_substring_regex(values, pattern=whole, replacement=f"\\{idx + 1}")
    return pc.if_else(found, picked, "")


register(FunctionSpec("regexp_extract", _string, _regexp_extract, min_args=2, max_args=3,
                      coerce=lambda ts: [pa.string(), pa.string(), pa.int32()][:len(ts)],
                      sql=lambda a: f"regexp_extract({', '.join(a + ['1'][:3 - len(a)])})"))


# ---------------------------------------------------------------------------------------------
# instr, locate: 1-based character positions, 0 when absent


def _positions(values: pa.Array, needle: str) -> pa.Array:
    """1-based character position of the first ``needle`` in each value, 0 if absent."""
    found = pc.match_substring(values, pattern=needle)
    before = pc.replace_substring_regex(values, pattern=re.escape(needle) + "(?s:.*)",
                                        replacement="", max_replacements=1)
    position = pc.add(pc.cast(pc.utf8_length(before), pa.int32()), 1)
    return pc.if_else(found, position, 0)


def _instr(args: Sequence[pa.Array]) -> pa.Array:
    values, substr = args
    needle = constant(substr)
    if needle is NOT_CONSTANT:
        return per_row(lambda s, t: s.find(t) + 1, args, pa.int32())
    if needle is None:
        return pa.nulls(len(values), pa.int32())
    return _positions(values, needle)


register(FunctionSpec("instr", lambda _: pa.int32(), _instr, **_strings(2)))


def _locate(args: Sequence[pa.Array]) -> pa.Array:
    """locate(substr, str[, pos]): the position of substr in str at or after pos; 0 when pos is
    below 1 or null, as Spark (Hive) does."""
    substr, values = args[:2]
    pos = constant(args[2]) if len(args) > 2 else 1
    needle = constant(substr)
    if pos is NOT_CONSTANT or needle is NOT_CONSTANT:
        def one(t: str | None, s: str | None, p: int | None = 1) -> int | None:
            if p is None:
                return 0
            if t is None or s is None:
                return None
            return 0 if p < 1 else s.find(t, p - 1) + 1

        full = list(args) if len(args) > 2 else [*args, pa.array([1] * len(values))]
        return per_row(one, full, pa.int32(), null_in_null_out=False)
    if pos is None:
        return pa.array(np.zeros(len(values), dtype=np.int32))
    if needle is None:
        return pa.nulls(len(values), pa.int32())
    if pos < 1:
        return pc.if_else(pc.is_null(values), pa.scalar(None, pa.int32()), 0)
    within = _positions(pc.utf8_slice_codeunits(values, pos - 1), needle)
    return pc.if_else(pc.greater(within, 0), pc.add(within, pos - 1), 0)


register(FunctionSpec("locate", lambda _: pa.int32(), _locate, min_args=2, max_args=3,
                      coerce=lambda ts: [pa.string(), pa.string(), pa.int32()][:len(ts)],
                      sql=lambda a: f"locate({', '.join(a + ['1'][:3 - len(a)])})"))


# ---------------------------------------------------------------------------------------------
# initcap, reverse, translate


def _initcap(args: Sequence[pa.Array]) -> pa.Array:
    """Upper case after each space, lower case elsewhere (Spark splits words on spaces only)."""
    values = args[0]
    words = pc.split_pattern(pc.utf8_lower(values), pattern=" ")
    flat = pc.utf8_capitalize(pc.list_flatten(words))
    rebuilt = pa.ListArray.from_arrays(words.offsets, flat, mask=pc.is_null(words))
    return pc.binary_join(rebuilt, " ")


register(FunctionSpec("initcap", _string, _initcap, **_strings(1)))


def _reverse_lists(lists: pa.Array) -> pa.Array:
    offsets = lists.offsets.to_numpy().astype(np.int64)
    lengths = np.diff(offsets)
    starts = np.repeat(offsets[:-1], lengths)
    ends = np.repeat(offsets[1:], lengths)
    # Offsets index the whole child array, even for a slice of a list array.
    flipped = starts + ends - 1 - np.arange(offsets[0], offsets[-1])
    taken = lists.values.take(pa.array(flipped, pa.int64()))
    return pa.ListArray.from_arrays(pa.array(offsets - offsets[0], pa.int32()), taken,
                                    mask=pc.is_null(lists))


def _reverse(args: Sequence[pa.Array]) -> pa.Array:
    values = args[0]
    if pa.types.is_list(values.type):
        return _reverse_lists(values)
    return pc.utf8_reverse(values)


def _reverse_types(types: list[pa.DataType]) -> list[pa.DataType]:
    return [types[0] if pa.types.is_list(types[0]) else pa.string()]


register(FunctionSpec("reverse", lambda ts: _reverse_types(ts)[0], _reverse,
                      coerce=_reverse_types))


def _translation(matching: str, replace: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for i, ch in enumerate(matching):
        if ch not in table:
            table[ch] = replace[i] if i < len(replace) else ""
    return table


# Private-use code points stand for the characters being translated, so that a character
# produced by one replacement is not translated again by the next.
_PLACEHOLDER = 0xF0000


def _translate(args: Sequence[pa.Array]) -> pa.Array:
    values, matching, replace = args
    m, r = constant(matching), constant(replace)
    if m is NOT_CONSTANT or r is NOT_CONSTANT:
        return per_row(lambda s, a, b: s.translate(str.maketrans(_translation(a, b))), args,
                       pa.string())
    if m is None or r is None:
        return pa.nulls(len(values), pa.string())
    table = _translation(m, r)
    out = values
    for i, ch in enumerate(table):
        out = pc.replace_substring(out, ch, chr(_PLACEHOLDER + i))
    for i, target in enumerate(table.values()):
        out = pc.replace_substring(out, chr(_PLACEHOLDER + i), target)
    return out


register(FunctionSpec("translate", _string, _translate, **_strings(3)))


# ---------------------------------------------------------------------------------------------
# startswith, endswith, contains


def _affix(fn_name: str) -> FunctionSpec:
    fn = getattr(pc, fn_name)
    python = {"starts_with": str.startswith, "ends_with": str.endswith,
              "match_substring": str.__contains__}[fn_name]

    def kernel(args: Sequence[pa.Array]) -> pa.Array:
        values, other = args
        pattern = constant(other)
        if pattern is NOT_CONSTANT:
            return per_row(python, args, pa.bool_())
        if pattern is None:
            return pa.nulls(len(values), pa.bool_())
        return fn(values, pattern=pattern)

    name = {"starts_with": "startswith", "ends_with": "endswith",
            "match_substring": "contains"}[fn_name]
    return FunctionSpec(name, lambda _: pa.bool_(), kernel, **_strings(2))


for _fn in ("starts_with", "ends_with", "match_substring"):
    register(_affix(_fn))


# ---------------------------------------------------------------------------------------------
# format_string / printf: Java's Formatter, the common conversions

_SPEC = re.compile(r"%(?:(\d+)\$)?([-#+ 0,(]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


def _java_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        from ember.exec.java_format import format_double

        return format_double(value)
    return str(value)


def java_format(fmt: str, *values: Any) -> str:
    """``String.format`` for ``%s %d %f %e %g %x %o %c %b %% %n`` with flags, width and
    precision."""
    out = []
    pos = 0
    next_arg = 0
    for m in _SPEC.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        index, flags, width, precision, conv = m.groups()
        if conv == "%":
            out.append("%")
            continue
        if conv == "n":
            out.append("\n")
            continue
        if index is not None:
            value = values[int(index) - 1]
        else:
            value = values[next_arg] if next_arg < len(values) else None
            next_arg += 1
        out.append(_format_one(value, flags, width, precision, conv))
    out.append(fmt[pos:])
    return "".join(out)


def _format_one(value: Any, flags: str, width: str | None, precision: str | None,
                conv: str) -> str:
    lower = conv.lower()
    align = "<" if "-" in flags else ""
    size = width or ""
    if lower in "sb" or value is None:
        text = (("true" if value else "false") if lower == "b" and value is not None
                else _java_text(value))
        if precision is not None:
            text = text[:int(precision)]
        text = format(text, f"{align}{size}")
    else:
        sign = "+" if "+" in flags else (" " if " " in flags else "")
        zero = "0" if "0" in flags and not align else ""
        group = "," if "," in flags else ""
        prec = f".{precision}" if precision is not None else (".6" if lower in "fe" else "")
        kind = {"d": "d", "f": "f", "e": "e", "g": "g", "x": "x", "o": "o", "c": "c"}.get(lower)
        if kind is None:
            msg = f"format conversion %{conv} is not supported"
            raise ValueError(msg)
        if kind == "c":
            text = format(chr(value) if isinstance(value, int) else str(value), f"{align}{size}")
        elif kind in "dxo":
            text = format(int(value), f"{align}{sign}{zero}{size}{group}{kind}")
        else:
            text = format(float(value), f"{align}{sign}{zero}{size}{group}{prec}{kind}")
    return text.upper() if conv.isupper() else text


def _format_string(args: Sequence[pa.Array]) -> pa.Array:
    fmt, *values = args
    columns = [v.to_pylist() for v in values]
    formats = fmt.to_pylist()
    out = []
    for i, f in enumerate(formats):
        out.append(None if f is None else java_format(f, *(c[i] for c in columns)))
    return pa.array(out, pa.string())


def _format_types(types: list[pa.DataType]) -> list[pa.DataType]:
    if types and not (pa.types.is_string(types[0]) or pa.types.is_null(types[0])):
        msg = f"the format of format_string must be a string, got {types[0]}"
        raise AnalysisException(msg)
    return [pa.string(), *types[1:]]


for _name in ("format_string", "printf"):
    register(FunctionSpec(_name, _string, _format_string, max_args=None, coerce=_format_types))
