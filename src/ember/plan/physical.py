"""The physical planner: chooses operators and inserts exchanges where distribution changes.

- Aggregation is partial, then a hash exchange on the keys, then final.
- A join broadcasts a side below ``spark.sql.autoBroadcastJoinThreshold``; otherwise both sides
  are hash-partitioned on the join keys (a shuffled hash join).
- Global sorts and limits gather to a single partition.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ember.exec.aggregate import (
    ADAPTIVE_MIN_COMPACTION,
    ADAPTIVE_MIN_ROWS,
    HashAggregateExec,
    state_types,
)
from ember.exec.context import TaskContext
from ember.exec.generate import GenerateExec
from ember.exec.join import JoinExec
from ember.exec.operators import (
    CoalesceExec,
    FilterExec,
    LimitExec,
    LocalScanExec,
    PhysicalOp,
    ProjectExec,
    RangeExec,
    SortExec,
    UnionExec,
    table_batches,
)
from ember.exec.sample import SampleExec
from ember.exec.scan import FileScanExec, list_files, plan_splits, to_arrow_filter
from ember.exec.task import (
    HashPartitioning,
    Partitioning,
    RangePartitioning,
    RoundRobinPartitioning,
    SinglePartition,
)
from ember.exec.window import WindowExec
from ember.plan import stats
from ember.plan.expressions import (
    AggregateCall,
    Alias,
    AttributeReference,
    BinaryOp,
    Call,
    Expression,
    IsNull,
    Literal,
    conjoin,
    replace_top_down,
    split_conjuncts,
    strip_alias,
    to_attribute,
)
from ember.plan.generate import Generate
from ember.plan.logical import (
    Aggregate,
    CachedRelation,
    CheckpointRelation,
    FileRelation,
    Filter,
    Join,
    Limit,
    LocalRelation,
    LogicalPlan,
    Project,
    Range,
    Repartition,
    Sort,
    SubqueryAlias,
    Union,
    expr_string,
)
from ember.plan.sample import Sample
from ember.plan.window import Window


@dataclass(frozen=True)
class PlannerConf:
    shuffle_partitions: int = 200
    broadcast_threshold: int = 10 * 1024 * 1024
    default_parallelism: int = 2
    # spark.sql.execution.aggregate.adaptivePartialAggregation.{enabled, minRows, minCompaction}
    adaptive_partial_aggregation: bool = True
    adaptive_min_rows: int = ADAPTIVE_MIN_ROWS
    adaptive_min_compaction: float = ADAPTIVE_MIN_COMPACTION


class _OneChildExec(PhysicalOp):
    """An operator with one child, whose columns it keeps (or, run for what it does with the
    rows, whose columns it would have)."""

    child: PhysicalOp

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return (self.child,)

    @property
    def output(self) -> list[AttributeReference]:
        return self.child.output


@dataclass(frozen=True, eq=False)
class ExchangeExec(_OneChildExec):
    """A shuffle boundary: the child stage writes, the parent stage reads."""

    partitioning: Partitioning
    child: PhysicalOp
    # Fixed before a job runs, so that sub-jobs (range sampling) and the job share the shuffle.
    shuffle_id: int | None = None

    def simple_string(self) -> str:
        return f"Exchange {self.partitioning.describe()}"


@dataclass(frozen=True, eq=False)
class BroadcastExchangeExec(_OneChildExec):
    """The child is collected by the driver and sent to every task that needs it."""

    child: PhysicalOp

    def simple_string(self) -> str:
        return "BroadcastExchange"


class CachedBlockLostError(RuntimeError):
    """A cached partition is gone and the task cannot recompute it: its lineage was cut
    (``localCheckpoint``), or left out of a plan made when the block still existed."""


def cache_block_id(cache_id: int, partition: int) -> str:
    return f"rdd_{cache_id}_{partition}"


@dataclass(frozen=True, eq=False)
class CachedScanExec(PhysicalOp):
    """Reads a cached partition from the executor's block manager (or the executor holding it);
    a partition no executor holds is computed by ``child`` and stored for the next jobs.

    ``child`` is None when every partition is cached (the job then runs no lineage at all) or
    when the lineage was cut by ``localCheckpoint``.
    """

    cache_id: int
    attrs: tuple[AttributeReference, ...]
    level: Any  # StorageLevel
    partitions: int | None
    locations: tuple[tuple[tuple[str, str], ...], ...]
    child: PhysicalOp | None = None
    # No lineage at all (localCheckpoint), rather than one left out of this plan.
    lineage_cut: bool = False

    @property
    def children(self) -> tuple[PhysicalOp, ...]:  # type: ignore[override]
        return () if self.child is None else (self.child,)

    def _child_fields(self) -> list[str]:
        return [] if self.child is None else ["child"]

    @property
    def output(self) -> list[AttributeReference]:
        return list(self.attrs)

    def num_partitions(self, reduce_ranges: int) -> int:
        if self.child is not None:
            return self.child.num_partitions(reduce_ranges)
        return self.partitions or 0

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        blocks = getattr(ctx, "blocks", None)
        block = cache_block_id(self.cache_id, partition)
        if blocks is not None:
            where = self.locations[partition] if partition < len(self.locations) else ()
            table = blocks.get_or_fetch(block, where)
            if table is not None:
                # Stored under the names of the plan that computed it.
                yield from table_batches(table.rename_columns([a.key for a in self.attrs]))
                return
        if self.child is None and self.lineage_cut:
            msg = (f"cached block {block} is lost: the executor holding it is gone, and the "
                   "lineage to recompute it was cut by localCheckpoint()\n\nuse checkpoint() "
                   "with sc.setCheckpointDir(...) for data that must survive executor loss")
            raise CachedBlockLostError(msg)
        if self.child is None:
            msg = (f"cached block {block} was lost after the job was planned: the executor "
                   "holding it is gone\n\nthe driver plans the job again, recomputing it")
            raise CachedBlockLostError(msg)
        items = [b for b in self.child.execute(ctx, partition) if b.num_rows]
        keys = [a.key for a in self.attrs]
        if items:
            table = pa.Table.from_batches(items).rename_columns(keys)
        else:
            table = pa.schema([pa.field(a.key, a.dtype) for a in self.attrs]).empty_table()
        if blocks is not None:
            blocks.put(block, table, self.level,
                       num_partitions=self.num_partitions(len(ctx.reduce_ranges)))
        yield from table_batches(table)

    def simple_string(self) -> str:
        where = "cached" if self.locations and all(self.locations) else "caching"
        return f"InMemoryTableScan [{', '.join(a.key for a in self.attrs)}] ({where})"


@dataclass(frozen=True, eq=False)
class CheckpointScanExec(PhysicalOp):
    """Reads partition ``i`` from the ``i``-th Arrow IPC file that ``checkpoint()`` wrote."""

    attrs: tuple[AttributeReference, ...]
    paths: tuple[str, ...]

    @property
    def output(self) -> list[AttributeReference]:
        return list(self.attrs)

    def num_partitions(self, reduce_ranges: int) -> int:
        return len(self.paths)

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        with pa.memory_map(self.paths[partition]) as source:
            table = pa.ipc.open_file(source).read_all()
        table = table.rename_columns([a.key for a in self.attrs])
        ctx.metrics.input_rows += table.num_rows
        yield from table_batches(table)

    def simple_string(self) -> str:
        return f"CheckpointScan [{', '.join(a.key for a in self.attrs)}], {len(self.paths)} files"


@dataclass(frozen=True, eq=False)
class CheckpointWriteExec(_OneChildExec):
    """Writes each partition of ``child`` as ``<directory>/part-<i>.arrow`` (LZ4 Arrow IPC)."""

    directory: str
    child: PhysicalOp

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        schema = pa.schema([pa.field(a.key, a.dtype) for a in self.child.output])
        path = checkpoint_file(self.directory, partition)
        tmp = Path(path + ".tmp")
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        with pa.OSFile(str(tmp), "wb") as sink, \
                pa.ipc.new_file(sink, schema, options=options) as writer:
            for batch in self.child.execute(ctx, partition):
                if batch.num_rows:
                    writer.write_batch(batch.rename_columns(schema.names))
        tmp.replace(path)
        yield from ()

    def simple_string(self) -> str:
        return f"CheckpointWrite {self.directory}"


@dataclass(frozen=True, eq=False)
class DiscardExec(_OneChildExec):
    """Runs ``child`` for its side effects (storing cached blocks)."""

    child: PhysicalOp

    def execute(self, ctx: TaskContext, partition: int) -> Iterator[pa.RecordBatch]:
        for _ in self.child.execute(ctx, partition):
            pass
        yield from ()


def checkpoint_file(directory: str, partition: int) -> str:
    return str(Path(directory) / f"part-{partition:05d}.arrow")


def checkpoint_files(directory: str, partitions: int) -> tuple[str, ...]:
    return tuple(checkpoint_file(directory, p) for p in range(partitions))


def cached_scan(attrs: Sequence[AttributeReference], data: Any,
                child: PhysicalOp | None) -> CachedScanExec:
    """The scan of a cached dataset: ``data`` is a `CacheData`.

    When every partition is cached, a lineage with a shuffle or a broadcast is dropped, since
    keeping it would run its other stages; a narrow one is kept, unused unless a block turns
    out to be gone when its task runs."""
    lineage_cut = child is None
    if child is not None and data.complete and any(
            isinstance(op, ExchangeExec | BroadcastExchangeExec) for op in walk(child)):
        child = None
    return CachedScanExec(data.cache_id, tuple(attrs), data.level, data.num_partitions,
                          data.locations, child, lineage_cut)


def plan(node: LogicalPlan, conf: PlannerConf) -> PhysicalOp:
    return _Planner(conf).plan(node)


class _Planner:
    def __init__(self, conf: PlannerConf) -> None:
        self.conf = conf

    def plan(self, node: LogicalPlan) -> PhysicalOp:
        method = getattr(self, f"_plan_{type(node).__name__}", None)
        if method is None:
            msg = f"no physical plan for {type(node).__name__}"
            raise NotImplementedError(msg)
        return method(node)

    def _plan_LocalRelation(self, node: LocalRelation) -> PhysicalOp:
        return LocalScanExec(node.attrs, node.partitions)

    def _plan_Range(self, node: Range) -> PhysicalOp:
        return RangeExec(node.start, node.end, node.step, node.num_partitions, node.attr)

    def _plan_FileRelation(self, node: FileRelation) -> PhysicalOp:
        files = list_files(node.paths)
        arrow_filter = None
        for f in node.pushed_filters:
            af = to_arrow_filter(f)
            if af is not None:
                arrow_filter = af if arrow_filter is None else arrow_filter & af
        file_schema = pa.schema([pa.field(a.name, a.dtype) for a in node.attrs
                                 if a.name not in node.partition_names])
        partitions = tuple(
            (a.name, a.dtype) for a in node.attrs if a.name in node.partition_names)
        splits = plan_splits(node.fmt, files, node.paths, partitions,
                             parallelism=self.conf.default_parallelism)
        return FileScanExec(node.fmt, tuple(splits),
                            file_schema, tuple(node.output), arrow_filter, node.options,
                            ", ".join(expr_string(f) for f in node.pushed_filters),
                            node.partition_names)

    def _plan_CachedRelation(self, node: CachedRelation) -> PhysicalOp:
        lineage = node.data.lineage
        scan = cached_scan(node.attrs, node.data, None if lineage is None else self.plan(lineage))
        if node.required is None:
            return scan
        return ProjectExec(tuple(node.output), tuple(node.output), scan)

    def _plan_CheckpointRelation(self, node: CheckpointRelation) -> PhysicalOp:
        return CheckpointScanExec(node.attrs, node.paths)

    def _plan_Project(self, node: Project) -> PhysicalOp:
        child = self.plan(node.child)
        return ProjectExec(node.exprs, tuple(node.output), child)

    def _plan_Filter(self, node: Filter) -> PhysicalOp:
        return FilterExec(node.condition, self.plan(node.child))

    def _plan_Generate(self, node: Generate) -> PhysicalOp:
        gen = node.generator
        return GenerateExec(gen.child, gen.outer, gen.position, node.attrs, self.plan(node.child))

    def _plan_Sample(self, node: Sample) -> PhysicalOp:
        return SampleExec(node.lower, node.upper, node.with_replacement, node.seed,
                          self.plan(node.child))

    def _plan_Window(self, node: Window) -> PhysicalOp:
        child = self.plan(node.child)
        # Rows of one window partition must meet in one task. A window below that already
        # clustered the rows on a subset of these keys did so for this one as well.
        clustered = isinstance(child, WindowExec) and (
            all(any(k == p for p in node.partition) for k in child.partition)
            if child.partition else not node.partition)
        if not clustered:
            partitioning: Partitioning = (
                HashPartitioning(node.partition, self.conf.shuffle_partitions)
                if node.partition else SinglePartition())
            child = ExchangeExec(partitioning, child)
        return WindowExec(node.window_exprs, node.partition, node.orders, child)

    def _plan_SubqueryAlias(self, node: SubqueryAlias) -> PhysicalOp:
        return self.plan(node.child)

    def _plan_Union(self, node: Union) -> PhysicalOp:
        return UnionExec(tuple(self.plan(c) for c in node.inputs), tuple(node.output))

    def _plan_Repartition(self, node: Repartition) -> PhysicalOp:
        child = self.plan(node.child)
        if not node.shuffle:
            return CoalesceExec(node.num_partitions, child)
        if node.keys:
            return ExchangeExec(HashPartitioning(node.keys, node.num_partitions), child)
        return ExchangeExec(RoundRobinPartitioning(node.num_partitions), child)

    def _plan_Sort(self, node: Sort) -> PhysicalOp:
        child = self.plan(node.child)
        if node.is_global:
            partitioning = RangePartitioning(node.orders, self.conf.shuffle_partitions)
            child = ExchangeExec(partitioning, child)
        return SortExec(node.orders, child)

    def _plan_Limit(self, node: Limit) -> PhysicalOp:
        inner = node.child
        if isinstance(inner, Sort) and inner.is_global:
            # TakeOrdered: top-n in every partition, then top-n of those.
            local = SortExec(inner.orders, self.plan(inner.child), limit=node.n)
            return SortExec(inner.orders, ExchangeExec(SinglePartition(), local), limit=node.n)
        local = LimitExec(node.n, self.plan(inner))
        return LimitExec(node.n, ExchangeExec(SinglePartition(), local), is_global=True)

    # -- aggregation ---------------------------------------------------------------------------

    def _plan_Aggregate(self, node: Aggregate) -> PhysicalOp:
        child = self.plan(node.child)
        key_attrs = tuple(_key_attr(k) for k in node.keys)
        key_map = {strip_alias(k): a for k, a in zip(node.keys, key_attrs, strict=True)}
        calls: list[AggregateCall] = []
        for e in node.aggs:
            for sub in e.walk():
                if isinstance(sub, AggregateCall) and sub not in calls:
                    calls.append(sub)
        agg_attrs = tuple(AttributeReference(c.sql(), c.dtype, True) for c in calls)
        state_attrs = tuple(
            AttributeReference(f"{c.sql()}_state{m}", t, True)
            for c in calls for m, t in enumerate(state_types(c)))
        keys = tuple(strip_alias(k) for k in node.keys)
        partial = HashAggregateExec(
            "partial", keys, key_attrs, tuple(calls), state_attrs, agg_attrs, child,
            adaptive_min_rows=self.conf.adaptive_min_rows,
            adaptive_min_compaction=(self.conf.adaptive_min_compaction
                                     if self.conf.adaptive_partial_aggregation else 0.0))
        partitioning: Partitioning = (
            HashPartitioning(key_attrs, self.conf.shuffle_partitions) if key_attrs
            else SinglePartition())
        exchange = ExchangeExec(partitioning, partial)
        final = HashAggregateExec("final", key_attrs, key_attrs, tuple(calls), state_attrs,
                                  agg_attrs, exchange)
        call_map = dict(zip(calls, agg_attrs, strict=True))
        results = tuple(_rewrite_result(e, key_map, call_map) for e in node.aggs)
        return ProjectExec(results, tuple(node.output), final)

    # -- joins ---------------------------------------------------------------------------------

    def _plan_Join(self, node: Join) -> PhysicalOp:
        left_ids, right_ids = node.left.output_set(), node.right.output_set()
        left_keys: list[Expression] = []
        right_keys: list[Expression] = []
        residual: list[Expression] = []
        for c in split_conjuncts(node.condition) if node.condition is not None else []:
            pairs = _equi_keys(c, left_ids, right_ids)
            if pairs is None:
                residual.append(c)
            for lk, rk in pairs or ():
                left_keys.append(lk)
                right_keys.append(rk)
        how = "inner" if node.how == "cross" else node.how
        left, right = self.plan(node.left), self.plan(node.right)
        threshold = self.conf.broadcast_threshold
        lsize, rsize = stats.size_in_bytes(node.left), stats.size_in_bytes(node.right)
        res = conjoin(residual)
        can_build_right = how in {"inner", "left", "left_semi", "left_anti"}
        can_build_left = how in {"inner", "right"}
        if can_build_right and rsize <= threshold and (not can_build_left or rsize <= lsize
                                                       or lsize > threshold):
            return JoinExec(left, BroadcastExchangeExec(right), how, tuple(left_keys),
                            tuple(right_keys), res, build_right=True, broadcast=True)
        if can_build_left and lsize <= threshold:
            return JoinExec(BroadcastExchangeExec(left), right, how, tuple(left_keys),
                            tuple(right_keys), res, build_right=False, broadcast=True)
        if left_keys:
            n = self.conf.shuffle_partitions
            lx = ExchangeExec(HashPartitioning(tuple(left_keys), n), left)
            rx = ExchangeExec(HashPartitioning(tuple(right_keys), n), right)
        else:
            lx = ExchangeExec(SinglePartition(), left)
            rx = ExchangeExec(SinglePartition(), right)
        build_right = how in {"left_semi", "left_anti", "left"} or rsize <= lsize
        if how == "right":
            build_right = False
        return JoinExec(lx, rx, how, tuple(left_keys), tuple(right_keys), res,
                        build_right=build_right, broadcast=False)



def _key_attr(key: Expression) -> AttributeReference:
    if isinstance(key, AttributeReference):
        return key
    if isinstance(key, Alias):
        return to_attribute(key)
    return AttributeReference(key.sql(), key.dtype, key.nullable)


def _rewrite_result(e: Expression, key_map: dict[Expression, AttributeReference],
                    call_map: dict[AggregateCall, AttributeReference]) -> Expression:
    def fn(x: Expression) -> Expression:
        if isinstance(x, AggregateCall):
            return call_map[x]
        if not isinstance(x, Alias) and x in key_map:
            return key_map[x]
        return x

    if isinstance(e, Alias):
        return Alias(replace_top_down(e.child, fn), e.name, e.expr_id)
    return replace_top_down(e, fn)



def _equi_keys(c: Expression, left_ids: set[int],
               right_ids: set[int]) -> list[tuple[Expression, Expression]] | None:
    """Hash-join key pairs for an equality between the two sides, or None.

    ``a <=> b`` (null-safe) becomes two pairs, ``(a IS NULL, b IS NULL)`` and the values with
    nulls replaced by one constant, so that null meets null, as Spark's null-safe join keys.
    """
    if not (isinstance(c, BinaryOp) and c.op in {"=", "<=>"}):
        return None
    lrefs, rrefs = c.left.references(), c.right.references()
    if not lrefs or not rrefs:
        return None
    if lrefs <= left_ids and rrefs <= right_ids:
        left, right = c.left, c.right
    elif lrefs <= right_ids and rrefs <= left_ids:
        left, right = c.right, c.left
    else:
        return None
    if c.op == "=":
        return [(left, right)]
    filler = _zero_of(left.dtype)
    if filler is None:
        return None
    return [(IsNull(left), IsNull(right)),
            (Call("coalesce", (left, filler)), Call("coalesce", (right, filler)))]


def _zero_of(t: pa.DataType) -> Literal | None:
    import datetime as dt
    import decimal

    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return Literal(0, t)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return Literal("", t)
    if pa.types.is_boolean(t):
        return Literal(False, t)
    if pa.types.is_date(t):
        return Literal(dt.date(1970, 1, 1), t)
    if pa.types.is_timestamp(t):
        return Literal(dt.datetime(1970, 1, 1), t)
    if pa.types.is_decimal(t):
        return Literal(decimal.Decimal(0), t)
    if pa.types.is_binary(t):
        return Literal(b"", t)
    return None


def stage_numbers(root: PhysicalOp) -> dict[int, int]:
    """Number the stages a plan will run as, bottom-up as Spark numbers its codegen stages:
    ``id(op)`` to the stage whose fused pipeline runs ``op``. Exchanges belong to no stage."""
    numbers: dict[int, int] = {}
    counter = itertools.count(1)

    def collect(op: PhysicalOp, members: list[PhysicalOp], below: list[PhysicalOp]) -> None:
        if isinstance(op, ExchangeExec | BroadcastExchangeExec):
            below.append(op.child)
            return
        members.append(op)
        for c in op.children:
            collect(c, members, below)

    def visit(stage_root: PhysicalOp) -> None:
        members: list[PhysicalOp] = []
        below: list[PhysicalOp] = []
        collect(stage_root, members, below)
        for child_root in below:
            visit(child_root)
        if members:
            n = next(counter)
            numbers.update((id(m), n) for m in members)

    visit(root)
    return numbers


def explain_physical(root: PhysicalOp) -> str:
    return root.tree_string(stage_numbers(root))


def walk(op: PhysicalOp) -> Iterator[PhysicalOp]:
    yield op
    for c in op.children:
        yield from walk(c)
