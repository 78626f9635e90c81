"""SQL text to DataFrames: ``spark.sql(...)``, ``df.filter("a > 1")``, ``selectExpr``, ``F.expr``.

sqlglot parses the text with its Spark dialect; this module translates its syntax tree into
ember expressions and DataFrame operations, so SQL gets exactly the analyzer, optimizer and
planner the DataFrame API gets.
"""

from __future__ import annotations

import decimal
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.errors import ParseError, TokenError

from ember.errors import AnalysisException, ParseException
from ember.plan.expressions import (
    Alias,
    And,
    BinaryOp,
    CaseWhen,
    Cast,
    Expression,
    In,
    IsNotNull,
    IsNull,
    Literal,
    Negative,
    Not,
    Or,
    SortOrder,
    UnresolvedAttribute,
    UnresolvedFunction,
    UnresolvedStar,
    literal,
    strip_alias,
)
from ember.sql.column import Column

if TYPE_CHECKING:
    from ember.sql.dataframe import DataFrame
    from ember.sql.session import SparkSession

# sqlglot warns on stderr when it falls back to a generic command (SHOW ...); ember reports
# what it cannot run itself.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

# sqlglot's canonical names that Spark spells differently
_FUNCTION_NAMES = {
    "approx_distinct": "approx_count_distinct",
    "array_agg": "collect_list",
    "array_unique_agg": "collect_set",
    "stddev_samp": "stddev_samp",
    "variance_samp": "var_samp",
    "variance": "variance",
    "if": "if",
    "str_position": "locate",
    "date_str_to_date": "to_date",
    "str_to_date": "to_date",
    "str_to_time": "to_timestamp",
    "time_to_str": "date_format",
    "array_size": "size",
    "array_sort": "sort_array",
    "regexp_like": "rlike",
    "length": "length",
    "pow": "pow",
    "power": "pow",
    "ln": "ln",
    "substring": "substring",
    "lower": "lower",
    "upper": "upper",
}

_BINARY = {
    exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%", exp.IntDiv: "div",
    exp.EQ: "=", exp.NEQ: "!=", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=",
    exp.NullSafeEQ: "<=>",
}

_AGGREGATES = (exp.AggFunc,)

# Functions sqlglot would rewrite into its own canonical forms (reordering arguments, wrapping
# them in casts, renaming them); ember parses them as plain calls, arguments in written order,
# and resolves them by name through its registries like any other function.
_PLAIN_CALLS = frozenset({
    "ADD_MONTHS", "APPROX_COUNT_DISTINCT", "ARRAY_CONTAINS", "ARRAY_DISTINCT",
    "ARRAY_JOIN", "COLLECT_LIST", "COLLECT_SET", "CONCAT_WS", "CONTAINS", "CORR", "COVAR_POP",
    "COVAR_SAMP", "CRC32", "DATEDIFF", "DATE_ADD", "DATE_FORMAT", "DATE_SUB", "DATE_TRUNC", "DAY",
    "DAYOFMONTH", "DAYOFWEEK", "DAYOFYEAR", "ELEMENT_AT", "ENDSWITH", "EXP", "FIRST",
    "FORMAT_STRING", "FROM_UNIXTIME", "GREATEST", "HASH", "HOUR", "INITCAP", "INSTR", "ISNAN",
    "LAST", "LAST_DAY", "LEAST", "LN", "LOCATE", "LOG", "LOG10", "LOG2", "LPAD", "LTRIM", "MAP",
    "MAP_KEYS", "MAP_VALUES", "MD5", "MEDIAN", "MINUTE", "MONTH", "MONTHS_BETWEEN", "NAMED_STRUCT",
    "NANVL", "NULLIF", "NVL2", "PERCENTILE_APPROX", "APPROX_PERCENTILE", "POW", "POWER",
    "QUARTER", "RAND", "RANDN", "RANDOM",
    "REGEXP_EXTRACT", "REGEXP_REPLACE", "REVERSE", "RPAD", "RTRIM", "SECOND", "SHA", "SHA1",
    "SHA2", "SIGN", "SIGNUM", "SIZE", "SORT_ARRAY", "STARTSWITH", "STD", "STDDEV", "STDDEV_POP",
    "STDDEV_SAMP", "STRUCT", "TO_DATE", "TO_TIMESTAMP", "TO_UNIX_TIMESTAMP", "TRANSLATE",
    "TRUNC", "UNIX_TIMESTAMP", "VARIANCE", "VAR_POP", "VAR_SAMP", "WEEKDAY", "WEEKOFYEAR",
    "XXHASH64", "YEAR",
})


class _SparkPlainCalls(Spark):
    """Spark's dialect, with the functions of ``_PLAIN_CALLS`` left as plain calls."""

    class Parser(Spark.Parser):
        FUNCTIONS = {k: v for k, v in Spark.Parser.FUNCTIONS.items() if k not in _PLAIN_CALLS}
        FUNCTION_PARSERS = {k: v for k, v in Spark.Parser.FUNCTION_PARSERS.items()
                            if k not in _PLAIN_CALLS}


# ---------------------------------------------------------------------------------------------
# Parsing


def _parse(text: str, *, into: type[exp.Expression] | None = None) -> exp.Expression:
    try:
        tree = sqlglot.parse_one(text, read=_SparkPlainCalls, into=into)
    except ParseError as err:
        raise _parse_exception(err, text) from None
    except TokenError as err:
        msg = f"[PARSE_SYNTAX_ERROR] {err}\n\n== SQL ==\n{text}"
        raise ParseException(msg, context=text) from None
    if tree is None:
        msg = f"[PARSE_EMPTY_STATEMENT] there is no statement to run\n\n== SQL ==\n{text}"
        raise ParseException(msg, context=text)
    return tree


def _parse_exception(err: ParseError, text: str) -> ParseException:
    info = err.errors[0] if err.errors else {}
    line, col = info.get("line"), info.get("col")
    highlight = info.get("highlight") or ""
    description = info.get("description") or str(err)
    lines = text.splitlines() or [text]
    pointer = ""
    if line and col and 1 <= line <= len(lines):
        start = max(0, col - len(highlight))
        pointer = f"\n{lines[line - 1]}\n{' ' * start}{'^' * max(1, len(highlight))}"
    where = f" (line {line}, pos {col})" if line and col else ""
    msg = (f"[PARSE_SYNTAX_ERROR] syntax error at or near '{highlight}'{where}: "
           f"{description}\n\n== SQL =={pointer or chr(10) + text}")
    return ParseException(msg, line=line, column=col, context=highlight or text)


def parse_expression(text: str) -> Expression:
    """One SQL expression, unresolved: ``"a + 1"``, ``"count(*) AS n"``, ``"x > 2 AND y"``."""
    tree = _parse(f"SELECT {text}")
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1 or tree.args.get("from_"):
        msg = f"[PARSE_SYNTAX_ERROR] expected one expression, got: {text}"
        raise ParseException(msg, context=text)
    return _Translator(None).expr(tree.expressions[0])


def parse_expressions(text: str) -> list[Expression]:
    tree = _parse(f"SELECT {text}")
    assert isinstance(tree, exp.Select)
    return [_Translator(None).expr(e) for e in tree.expressions]


def sql(session: SparkSession, text: str, args: dict[str, Any] | None = None) -> DataFrame:
    tree = _parse(text)
    if args:
        tree = tree.transform(lambda n: exp.Literal.string(str(args[n.name]))
                              if isinstance(n, exp.Placeholder) and n.name in args else n)
    return _Translator(session).statement(tree)


# ---------------------------------------------------------------------------------------------
# Translation


class _Translator:
    def __init__(self, session: SparkSession | None,
                 ctes: dict[str, DataFrame] | None = None) -> None:
        self.session = session
        self.ctes = dict(ctes or {})

    # -- statements ----------------------------------------------------------------------------

    def statement(self, tree: exp.Expression) -> DataFrame:
        if isinstance(tree, exp.Query):
            return self.query(tree)
        if isinstance(tree, exp.Command) and str(tree.this).upper() == "SHOW":
            return self._show(tree)
        kind = type(tree).__name__.upper()
        msg = (f"[UNSUPPORTED_FEATURE] ember does not support {kind} statements yet\n\n"
               "use SELECT queries over temp views (df.createOrReplaceTempView)")
        raise AnalysisException(msg)

    def _show(self, tree: exp.Command) -> DataFrame:
        expression = tree.expression
        text = (expression.name if isinstance(expression, exp.Expression) else
                str(expression or "")).strip().upper()
        if text.startswith("TABLES"):
            assert self.session is not None
            return self.session.catalog._tables_frame()
        msg = f"[UNSUPPORTED_FEATURE] SHOW {text} is not supported yet"
        raise AnalysisException(msg)

    def query(self, q: exp.Expression) -> DataFrame:
        inner = self
        with_ = q.args.get("with_") or q.args.get("with")
        if with_ is not None:
            inner = _Translator(self.session, self.ctes)
            for cte in with_.expressions:
                inner.ctes[cte.alias_or_name.lower()] = inner.query(cte.this)
        if isinstance(q, exp.Select):
            return inner._select(q)
        if isinstance(q, exp.Union | exp.Intersect | exp.Except):
            return inner._set_operation(q)
        if isinstance(q, exp.Subquery):
            return inner._modifiers(inner.query(q.this), q)
        msg = f"[UNSUPPORTED_FEATURE] {type(q).__name__} queries are not supported yet"
        raise AnalysisException(msg)

    def _set_operation(self, q: exp.Expression) -> DataFrame:
        left = self.query(q.this)
        right = self.query(q.expression)
        distinct = q.args.get("distinct", True) is not False
        if isinstance(q, exp.Union):
            out = left.union(right)
            out = out.distinct() if distinct else out
        elif isinstance(q, exp.Intersect):
            out = left.intersect(right) if distinct else left.intersectAll(right)
        else:
            out = left.subtract(right) if distinct else left.exceptAll(right)
        return self._modifiers(out, q)

    def _modifiers(self, df: DataFrame, q: exp.Expression) -> DataFrame:
        order = q.args.get("order")
        if order is not None:
            df = df.orderBy(*[Column(self._ordered(o)) for o in order.expressions])
        limit = q.args.get("limit")
        if limit is not None:
            df = df.limit(self._int(limit.expression))
        return df

    def _int(self, node: exp.Expression) -> int:
        value = self.expr(node)
        if not isinstance(value, Literal) or not isinstance(value.value, int):
            msg = f"[INVALID_LIMIT_LIKE_EXPRESSION] expected an integer, got {node.sql()}"
            raise AnalysisException(msg)
        return value.value

    # -- SELECT --------------------------------------------------------------------------------

    def _select(self, s: exp.Select) -> DataFrame:
        df = self._from(s)
        where = s.args.get("where")
        if where is not None:
            df = self._where(df, where.this)
        items = [self.expr(e) for e in s.expressions]
        group = s.args.get("group")
        having = s.args.get("having")
        is_agg = group is not None or having is not None or any(
            _has_aggregate(e) for e in s.expressions)
        order = s.args.get("order")
        orders = [self._ordered(o) for o in order.expressions] if order is not None else []
        orders = [_ordinal(o, items) for o in orders]
        if is_agg:
            keys = [_ordinal_or_alias(self.expr(g), items) for g in group.expressions] \
                if group is not None else []
            df, hidden = self._aggregate(df, keys, items,
                                         having.this if having is not None else None, orders)
        else:
            df, hidden = self._project(df, items, orders)
        orders = [_after_aggregate(o, items) for o in orders]
        if s.args.get("distinct") is not None:
            df = df.distinct()
        if orders:
            df = df.orderBy(*[Column(o) for o in orders])
        limit = s.args.get("limit")
        if limit is not None:
            df = df.limit(self._int(limit.expression))
        if hidden:
            df = df.drop(*hidden)
        return df

    def _project(self, df: DataFrame, items: list[Expression],
                 orders: list[SortOrder]) -> tuple[DataFrame, list[str]]:
        """The projection, with hidden columns for ORDER BY keys it drops (dropped later)."""
        out = df.select(*[Column(e) for e in items])
        # ORDER BY may name input columns the projection drops, as in Spark: carry them along.
        missing = []
        for o in orders:
            for ref in o.child.walk():
                if isinstance(ref, UnresolvedAttribute) and not _resolves(out, ref) \
                        and _resolves(df, ref) and ref not in missing:
                    missing.append(ref)
        if not missing:
            return out, []
        hidden = [f"__order_{i}" for i in range(len(missing))]
        wider = df.select(*[Column(e) for e in items],
                          *[Column(Alias(m, h)) for m, h in zip(missing, hidden, strict=True)])
        for o_index, o in enumerate(orders):
            orders[o_index] = o.transform_up(  # type: ignore[assignment]
                lambda e: UnresolvedAttribute((hidden[missing.index(e)],))
                if isinstance(e, UnresolvedAttribute) and e in missing else e)
        return wider, hidden

    def _aggregate(self, df: DataFrame, keys: list[Expression], items: list[Expression],
                   having: exp.Expression | None,
                   orders: list[SortOrder]) -> tuple[DataFrame, list[str]]:
        extra: list[Expression] = []
        hidden: list[str] = []

        def hide(e: Expression) -> Expression:
            # Aggregates used only by HAVING or ORDER BY are computed as hidden columns.
            for item in items:
                if strip_alias(item) == e:
                    return UnresolvedAttribute((_name_of(item),))
            name = f"__agg_{len(extra)}"
            extra.append(Alias(e, name))
            hidden.append(name)
            return UnresolvedAttribute((name,))

        cond = None
        if having is not None:
            cond = _replace_aggregates(self.expr(having), hide)
        for i, o in enumerate(orders):
            orders[i] = _replace_aggregates(o, hide)  # type: ignore[assignment]
        grouped = df.groupBy(*[Column(k) for k in keys])
        out = grouped._aggregate_exprs(list(items) + extra, keys_in_output=False)
        if cond is not None:
            out = out.filter(Column(cond))
        return out, hidden

    def _from(self, s: exp.Select) -> DataFrame:
        from_ = s.args.get("from_") or s.args.get("from")
        if from_ is None:
            assert self.session is not None
            return self.session.range(1)  # one row for SELECT without FROM
        df = self._relation(from_.this)
        for join in s.args.get("joins") or []:
            df = self._join(df, join)
        return df

    def _relation(self, node: exp.Expression) -> DataFrame:
        if isinstance(node, exp.Table):
            df = self._table(node)
        elif isinstance(node, exp.Subquery):
            df = self.query(node.this)
        elif isinstance(node, exp.Values):
            df = self._values(node)
        else:
            msg = f"[UNSUPPORTED_FEATURE] {type(node).__name__} in FROM is not supported yet"
            raise AnalysisException(msg)
        alias = node.args.get("alias")
        if alias is not None:
            columns = [c.name for c in alias.args.get("columns") or []]
            if columns:
                df = df.toDF(*columns)
            if alias.name:
                df = df.alias(alias.name)
        elif isinstance(node, exp.Table):
            df = df.alias(node.name)
        return df

    def _table(self, node: exp.Table) -> DataFrame:
        assert self.session is not None
        name = node.name.lower()
        db = node.db.lower() if node.db else ""
        if not db and name in self.ctes:
            return self.ctes[name]
        return self.session.catalog._lookup(name, db)

    def _values(self, node: exp.Values) -> DataFrame:
        assert self.session is not None
        rows = []
        for row in node.expressions:
            values = [self.expr(v) for v in (row.expressions if isinstance(row, exp.Tuple)
                                             else [row])]
            if not all(isinstance(v, Literal) for v in values):
                msg = "VALUES takes literal values only"
                raise AnalysisException(msg)
            rows.append(tuple(v.value for v in values))  # type: ignore[attr-defined]
        names = [f"col{i + 1}" for i in range(len(rows[0]))] if rows else []
        return self.session.createDataFrame(rows, names)

    def _join(self, left: DataFrame, join: exp.Join) -> DataFrame:
        right = self._relation(join.this)
        side = (join.side or "").lower()
        kind = (join.kind or "").lower()
        if kind in {"semi", "anti"}:
            how = f"left_{kind}"
        elif kind == "cross":
            how = "cross"
        elif side in {"left", "right", "full"}:
            how = side
        else:
            how = "inner"
        using = join.args.get("using")
        if using:
            return left.join(right, [u.name for u in using], how)
        on = join.args.get("on")
        if on is None:
            return left.join(right, how="cross" if how == "inner" else how)
        return left.join(right, Column(self.expr(on)), how)

    def _where(self, df: DataFrame, cond: exp.Expression) -> DataFrame:
        """WHERE, with [NOT] IN (subquery) and [NOT] EXISTS turned into semi and anti joins."""
        plain: list[exp.Expression] = []
        for conjunct in _conjuncts(cond):
            negated = isinstance(conjunct, exp.Not)
            inner = conjunct.this if negated else conjunct
            if isinstance(inner, exp.In) and inner.args.get("query") is not None:
                sub = self.query(inner.args["query"].this)
                if len(sub.columns) != 1:
                    msg = "an IN subquery must return exactly one column"
                    raise AnalysisException(msg)
                value = self.expr(inner.this)
                key = sub.toDF("__in_value").alias("__in")
                cond_e = BinaryOp("=", value, UnresolvedAttribute(("__in", "__in_value")))
                df = df.join(key, Column(cond_e), "left_anti" if negated else "left_semi")
            elif isinstance(inner, exp.Exists):
                df = self._exists(df, inner.this, negated)
            else:
                plain.append(conjunct)
        for conjunct in plain:
            df = df.filter(Column(self.expr(conjunct)))
        return df

    def _exists(self, outer: DataFrame, sub: exp.Expression, negated: bool) -> DataFrame:
        """A correlated EXISTS: the subquery's conjuncts that mention outer columns become the
        join condition; the others filter the subquery."""
        if not isinstance(sub, exp.Select):
            msg = "EXISTS supports a SELECT subquery"
            raise AnalysisException(msg)
        inner = self._from(sub)
        correlated: list[Expression] = []
        where = sub.args.get("where")
        for conjunct in _conjuncts(where.this) if where is not None else []:
            e = self.expr(conjunct)
            try:
                inner = inner.filter(Column(e))
            except AnalysisException:
                correlated.append(e)
        cond = None
        for c in correlated:
            cond = c if cond is None else And(cond, c)
        how = "left_anti" if negated else "left_semi"
        if cond is None:
            return outer.join(inner, how="cross").limit(0) if negated and inner.isEmpty() \
                else outer.join(inner.limit(1), how="cross" if not negated else "left_anti")
        return outer.join(inner, Column(cond), how)

    def _ordered(self, o: exp.Expression) -> SortOrder:
        if isinstance(o, exp.Ordered):
            desc = bool(o.args.get("desc"))
            nulls_first = o.args.get("nulls_first")
            explicit = "NULLS" in o.sql(dialect="spark").upper()
            return SortOrder(self.expr(o.this), not desc,
                             bool(nulls_first) if explicit else None)
        return SortOrder(self.expr(o), True, None)

    # -- expressions ---------------------------------------------------------------------------

    def expr(self, e: exp.Expression) -> Expression:
        method = _EXPRESSIONS.get(type(e))
        if method is not None:
            return method(self, e)
        for cls, op in _BINARY.items():
            if isinstance(e, cls):
                return BinaryOp(op, self.expr(e.this), self.expr(e.expression))
        if isinstance(e, exp.Func):
            return self._function(e)
        msg = (f"[UNSUPPORTED_FEATURE] the SQL construct {e.sql(dialect='spark')!r} "
               f"({type(e).__name__}) is not supported by ember yet")
        raise AnalysisException(msg)

    def _function(self, e: exp.Func) -> Expression:
        if isinstance(e, exp.Anonymous):
            name = e.name.lower()
            args = [self.expr(a) for a in e.expressions]
            special = _SPECIAL_CALLS.get(name)
            return special(args) if special is not None else UnresolvedFunction(name, tuple(args))
        name = e.sql_name().lower()
        name = _FUNCTION_NAMES.get(name, name)
        distinct = False
        args: list[Expression] = []
        for key in e.arg_types:
            value = e.args.get(key)
            if value is None or key in {"big_int"}:
                continue
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, exp.Distinct):
                    distinct = True
                    args += [self.expr(x) for x in v.expressions]
                elif isinstance(v, exp.Star):
                    args.append(Literal(1, pa.int32()))
                elif isinstance(v, exp.Expression):
                    args.append(self.expr(v))
                elif isinstance(v, bool):
                    continue
                else:
                    args.append(literal(v))
        return UnresolvedFunction(name, tuple(args), distinct)

    def _column(self, e: exp.Column) -> Expression:
        if isinstance(e.this, exp.Star):
            return UnresolvedStar(e.table or None)
        parts = [p.name for p in e.parts]
        return UnresolvedAttribute(tuple(parts))

    def _literal(self, e: exp.Literal) -> Expression:
        text = e.this
        if e.is_string:
            return Literal(text, pa.string())
        upper = text.upper()
        if upper.endswith("L") and upper[:-1].lstrip("-").isdigit():
            return Literal(int(text[:-1]), pa.int64())
        if upper.endswith(("D", "F")):
            return Literal(float(text[:-1]), pa.float64())
        if text.lstrip("-").isdigit():
            return literal(int(text))
        if "E" in upper:
            return Literal(float(text), pa.float64())
        # Spark reads 1.5 as a decimal literal.
        value = decimal.Decimal(text)
        digits = len(value.as_tuple().digits)
        scale = max(0, -int(value.as_tuple().exponent))
        return Literal(value, pa.decimal128(max(digits, scale, 1), scale))

    def _cast(self, e: exp.Cast) -> Expression:
        from ember.sql.column import _spark_type_to_arrow

        type_text = e.to.sql(dialect="spark")
        return Cast(self.expr(e.this), _spark_type_to_arrow(type_text))

    def _case(self, e: exp.Case) -> Expression:
        subject = e.this
        branches = []
        for if_ in e.args.get("ifs") or []:
            cond = self.expr(if_.this)
            if subject is not None:
                cond = BinaryOp("=", self.expr(subject), cond)
            branches.append((cond, self.expr(if_.args["true"])))
        default = e.args.get("default")
        return CaseWhen(tuple(branches), self.expr(default) if default is not None else None)

    def _if(self, e: exp.If) -> Expression:
        false = e.args.get("false")
        return CaseWhen(((self.expr(e.this), self.expr(e.args["true"])),),
                        self.expr(false) if false is not None else None)

    def _in(self, e: exp.In) -> Expression:
        if e.args.get("query") is not None:
            msg = ("[UNSUPPORTED_FEATURE] IN (subquery) is supported only as a top-level "
                   "condition of WHERE")
            raise AnalysisException(msg)
        return In(self.expr(e.this), tuple(self.expr(v) for v in e.expressions))

    def _is(self, e: exp.Is) -> Expression:
        target = e.expression
        if isinstance(target, exp.Null):
            return IsNull(self.expr(e.this))
        return BinaryOp("<=>", self.expr(e.this), self.expr(target))

    def _not(self, e: exp.Not) -> Expression:
        inner = self.expr(e.this)
        if isinstance(inner, IsNull):
            return IsNotNull(inner.child)
        return Not(inner)

    def _between(self, e: exp.Between) -> Expression:
        value = self.expr(e.this)
        return And(BinaryOp(">=", value, self.expr(e.args["low"])),
                   BinaryOp("<=", value, self.expr(e.args["high"])))

    def _like(self, e: exp.Expression, name: str) -> Expression:
        return UnresolvedFunction(name, (self.expr(e.this), self.expr(e.expression)))

    def _window(self, e: exp.Window) -> Expression:
        from ember.sql.window import Window

        func = Column(self.expr(e.this))
        partition = [Column(self.expr(p)) for p in e.args.get("partition_by") or []]
        order = e.args.get("order")
        orders = [Column(self._ordered(o)) for o in order.expressions] if order else []
        spec = Window.partitionBy(*partition) if partition else Window.partitionBy()
        if orders:
            spec = spec.orderBy(*orders)
        frame = e.args.get("spec")
        if frame is not None:
            start = _frame_bound(frame.args.get("start"), frame.args.get("start_side"))
            end = _frame_bound(frame.args.get("end"), frame.args.get("end_side"))
            kind = str(frame.args.get("kind") or "rows").lower()
            spec = spec.rowsBetween(start, end) if kind == "rows" else spec.rangeBetween(start, end)
        return func.over(spec).expr

    def _scalar_subquery(self, e: exp.Subquery) -> Expression:
        # An uncorrelated scalar subquery runs once, as Spark runs it before the main query.
        df = self.query(e.this)
        if len(df.columns) != 1:
            msg = "a scalar subquery must return exactly one column"
            raise AnalysisException(msg)
        rows = df.limit(2).collect()
        if len(rows) > 1:
            msg = "[SCALAR_SUBQUERY_TOO_MANY_ROWS] a scalar subquery returned more than one row"
            raise AnalysisException(msg)
        t = df._plan.output[0].dtype
        return Literal(rows[0][0] if rows else None, t)


def _frame_bound(value: Any, side: Any) -> int:
    from ember.sql.window import Window

    text = str(value).upper() if value is not None else "CURRENT ROW"
    side_text = str(side or "").lower()
    if text == "UNBOUNDED":
        return Window.unboundedPreceding if side_text == "preceding" else Window.unboundedFollowing
    if text == "CURRENT ROW":
        return Window.currentRow
    n = int(value.this if isinstance(value, exp.Literal) else text)
    return -n if side_text == "preceding" else n


def _conjuncts(e: exp.Expression) -> list[exp.Expression]:
    if isinstance(e, exp.And):
        return _conjuncts(e.this) + _conjuncts(e.expression)
    if isinstance(e, exp.Paren):
        return _conjuncts(e.this)
    return [e]


def _has_aggregate(e: exp.Expression) -> bool:
    from ember.plan import aggregates

    for node in e.walk():
        if isinstance(node, exp.Window):
            return False
        if isinstance(node, _AGGREGATES):
            return True
        if isinstance(node, exp.Anonymous) and aggregates.exists(node.name):
            return True
    return False



def _name_of(e: Expression) -> str:
    from ember.plan.expressions import output_name

    return output_name(e)


def _replace_aggregates(e: Expression, fn: Callable[[Expression], Expression]) -> Expression:
    from ember.plan import aggregates

    def walk(x: Expression) -> Expression:
        if isinstance(x, UnresolvedFunction) and aggregates.exists(x.name):
            return fn(x)
        return x.map_children(walk)

    return walk(e)


def _ordinal(o: SortOrder, items: list[Expression]) -> SortOrder:
    """``ORDER BY 2`` names the second select item."""
    c = o.child
    if isinstance(c, Literal) and isinstance(c.value, int) and not isinstance(c.value, bool):
        if not 1 <= c.value <= len(items):
            msg = f"ORDER BY position {c.value} is not in the select list (1..{len(items)})"
            raise AnalysisException(msg)
        return SortOrder(UnresolvedAttribute((_name_of(items[c.value - 1]),)), o.ascending,
                         o.nulls_first)
    return o


def _ordinal_or_alias(key: Expression, items: list[Expression]) -> Expression:
    """``GROUP BY 1`` and ``GROUP BY alias`` name select items, as Spark allows."""
    if isinstance(key, Literal) and isinstance(key.value, int) and not isinstance(key.value, bool):
        if not 1 <= key.value <= len(items):
            msg = f"GROUP BY position {key.value} is not in the select list (1..{len(items)})"
            raise AnalysisException(msg)
        return strip_alias(items[key.value - 1])
    if isinstance(key, UnresolvedAttribute) and len(key.parts) == 1:
        for item in items:
            if isinstance(item, Alias) and item.name.lower() == key.parts[0].lower() \
                    and not isinstance(item.child, UnresolvedAttribute):
                return item.child
    return key


def _after_aggregate(o: SortOrder, items: list[Expression]) -> SortOrder:
    """Order keys that repeat a select item refer to its output column."""
    for item in items:
        if isinstance(item, Alias) and item.child == o.child:
            return SortOrder(UnresolvedAttribute((item.name,)), o.ascending, o.nulls_first)
    return o


def _resolves(df: DataFrame, ref: UnresolvedAttribute) -> bool:
    from ember.plan.analyzer import resolve_name

    try:
        resolve_name(ref.parts, df._plan.output)
    except AnalysisException:
        return False
    return True


def _first_last(name: str) -> Callable[[list[Expression]], Expression]:
    """first(x, true) is first(x) IGNORE NULLS."""
    def build(args: list[Expression]) -> Expression:
        if len(args) == 2 and isinstance(args[1], Literal) and isinstance(args[1].value, bool):
            return UnresolvedFunction(f"{name}_ignore_nulls" if args[1].value else name,
                                      (args[0],))
        return UnresolvedFunction(name, tuple(args))

    return build


def _seed(args: list[Expression]) -> int | None:
    if not args:
        return None
    if isinstance(args[0], Literal) and isinstance(args[0].value, int):
        return args[0].value
    msg = "the seed of rand/randn must be an integer literal"
    raise AnalysisException(msg)


def _rand(gaussian: bool) -> Callable[[list[Expression]], Expression]:
    def build(args: list[Expression]) -> Expression:
        from ember.plan.runtime_values import Rand, new_seed

        seed = _seed(args)
        return Rand(new_seed() if seed is None else seed, gaussian=gaussian)

    return build


def _named_struct(args: list[Expression]) -> Expression:
    from ember.plan.complex_types import CreateStruct

    if len(args) % 2 or not all(isinstance(n, Literal) and isinstance(n.value, str)
                                for n in args[0::2]):
        msg = "named_struct takes pairs of a field name (a string literal) and a value"
        raise AnalysisException(msg)
    return CreateStruct(tuple(Alias(v, n.value) for n, v in zip(args[0::2], args[1::2],
                                                                 strict=True)))


def _struct(args: list[Expression]) -> Expression:
    from ember.plan.complex_types import CreateStruct

    return CreateStruct(tuple(args))


def _unix_timestamp(args: list[Expression]) -> Expression:
    from ember.plan.runtime_values import CurrentTime

    if not args:
        args = [CurrentTime(), Literal("yyyy-MM-dd HH:mm:ss", pa.string())]
    return UnresolvedFunction("unix_timestamp", tuple(args))


def _runtime(kind: str) -> Callable[[list[Expression]], Expression]:
    def build(args: list[Expression]) -> Expression:
        from ember.plan import runtime_values

        if kind == "id":
            return runtime_values.MonotonicallyIncreasingId()
        if kind == "partition":
            return runtime_values.SparkPartitionId()
        return runtime_values.CurrentTime(date=kind == "date")

    return build


# Plain calls whose result is not a registry function (or needs its arguments reshaped).
_SPECIAL_CALLS: dict[str, Callable[[list[Expression]], Expression]] = {
    "first": _first_last("first"), "last": _first_last("last"),
    "rand": _rand(False), "random": _rand(False), "randn": _rand(True),
    "struct": _struct, "named_struct": _named_struct, "unix_timestamp": _unix_timestamp,
    "monotonically_increasing_id": _runtime("id"), "spark_partition_id": _runtime("partition"),
    "current_date": _runtime("date"), "current_timestamp": _runtime("timestamp"),
    "now": _runtime("timestamp"),
}


def _ignore_nulls(self: _Translator, e: exp.IgnoreNulls) -> Expression:
    inner = self.expr(e.this)
    if isinstance(inner, UnresolvedFunction) and inner.name in {"first", "last"}:
        return UnresolvedFunction(f"{inner.name}_ignore_nulls", inner.args)
    return inner


def _trim(self: _Translator, e: exp.Trim) -> Expression:
    position = str(e.args.get("position") or "").upper()
    name = {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(position, "trim")
    chars = e.args.get("expression")
    args = (self.expr(e.this),) + ((self.expr(chars),) if chars is not None else ())
    return UnresolvedFunction(name, args)


def _position(self: _Translator, e: exp.StrPosition) -> Expression:
    args = [self.expr(e.args["substr"]), self.expr(e.this)]
    if e.args.get("position") is not None:
        args.append(self.expr(e.args["position"]))
    return UnresolvedFunction("locate", tuple(args))


def _bracket(self: _Translator, e: exp.Bracket) -> Expression:
    from ember.plan.complex_types import ExtractValue

    keys = e.expressions
    if len(keys) != 1:
        msg = f"[UNSUPPORTED_FEATURE] {e.sql(dialect='spark')}: one subscript is supported"
        raise AnalysisException(msg)
    return ExtractValue(self.expr(e.this), self.expr(keys[0]))


def _current_time(date: bool) -> Callable[[_Translator, Any], Expression]:
    def build(self: _Translator, e: Any) -> Expression:
        from ember.plan.runtime_values import CurrentTime

        return CurrentTime(date=date)

    return build


_EXPRESSIONS: dict[type, Callable[[_Translator, Any], Expression]] = {
    exp.Column: _Translator._column,
    exp.Literal: _Translator._literal,
    exp.Boolean: lambda self, e: Literal(bool(e.this), pa.bool_()),
    exp.Null: lambda self, e: Literal(None, pa.null()),
    exp.Paren: lambda self, e: self.expr(e.this),
    exp.Alias: lambda self, e: Alias(self.expr(e.this), e.alias),
    exp.Star: lambda self, e: UnresolvedStar(None),
    exp.And: lambda self, e: And(self.expr(e.this), self.expr(e.expression)),
    exp.Or: lambda self, e: Or(self.expr(e.this), self.expr(e.expression)),
    exp.Not: _Translator._not,
    exp.Neg: lambda self, e: Negative(self.expr(e.this)),
    exp.Cast: _Translator._cast,
    exp.TryCast: _Translator._cast,
    exp.Case: _Translator._case,
    exp.If: _Translator._if,
    exp.In: _Translator._in,
    exp.Is: _Translator._is,
    exp.Between: _Translator._between,
    exp.Like: lambda self, e: self._like(e, "like"),
    exp.ILike: lambda self, e: self._like(e, "ilike"),
    exp.RegexpLike: lambda self, e: self._like(e, "rlike"),
    exp.Window: _Translator._window,
    exp.Subquery: _Translator._scalar_subquery,
    exp.Ordered: lambda self, e: self._ordered(e),
    exp.IgnoreNulls: _ignore_nulls,
    exp.Trim: _trim,
    exp.StrPosition: _position,
    exp.Bracket: _bracket,
    exp.CurrentDate: _current_time(True),
    exp.CurrentTimestamp: _current_time(False),
}
