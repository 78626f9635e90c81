"""The driver: plans jobs, drives the sans-IO schedulers and talks to executors.

The DAGScheduler and TaskScheduler are pure state machines; this module feeds them events
(job submitted, executor registered, task status, executor lost) under one lock and carries out
the instructions they return (launch a task over HTTP, finish a job).

The master picks the backend that provides executors: ``local[N]`` starts N executor processes
(`ember.scheduler.backends.local`); ``k8s://...`` creates executor pods
(`ember.scheduler.backends.kubernetes`), with the app's token from ``EMBER_SECRET`` and the
server on 0.0.0.0:``spark.driver.port``, advertised at ``$POD_IP``.
"""

from __future__ import annotations

import atexit
import base64
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cloudpickle
import pyarrow as pa

from ember import rpc
from ember.core import broadcast as broadcast_module
from ember.core import conf as conf_module
from ember.core.conf import SparkConf, parse_seconds
from ember.core.storagelevel import StorageLevel
from ember.driver.block_master import BlockManagerMaster, CachedPlan, CacheManager
from ember.errors import IllegalArgumentException, SparkJobError
from ember.exec.file_writer import FileWriteSink
from ember.exec.operators import BroadcastReadExec, PhysicalOp, schema_of
from ember.exec.sorting import SampleKeysExec, compute_bounds
from ember.exec.task import (
    RangePartitioning,
    ResultSink,
    Sink,
    TaskDescription,
    TaskOutcome,
    decode_result,
)
from ember.k8s.names import DRIVER_PORT
from ember.plan import optimizer
from ember.plan.generate import Generate
from ember.plan.logical import (
    CacheData,
    CachedRelation,
    CheckpointRelation,
    FileRelation,
    Filter,
    LocalRelation,
    LogicalPlan,
    Project,
    Range,
    SubqueryAlias,
    Union,
)
from ember.plan.physical import (
    BroadcastExchangeExec,
    CachedScanExec,
    ExchangeExec,
    PlannerConf,
    cache_block_id,
    cached_scan,
    walk,
)
from ember.plan.physical import plan as physical_plan
from ember.plan.sample import Sample
from ember.plan.stages import JobPlan, Stage, coalesce_ranges, counter, split_stages
from ember.scheduler import events as ev
from ember.scheduler.dag import DAGScheduler, StageSpec
from ember.scheduler.map_output import MapOutputTracker, MapStatus
from ember.scheduler.pod_allocator import AllocatorConf
from ember.scheduler.tasks import Speculation, TaskScheduler

log = logging.getLogger("ember.driver")


def parse_master(master: str, cores: int) -> tuple[int, int]:
    """``local``, ``local[N]``, ``local[*]`` -> (executors, cores per executor)."""
    m = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master.strip())
    if not m:
        msg = (f"unsupported master {master!r}\n\nuse local, local[N] or local[*]; on Kubernetes "
               "submit a SparkApplication instead")
        raise IllegalArgumentException(msg)
    n = m.group(1)
    if n is None:
        return 1, cores
    if n == "*":
        return max(1, os.cpu_count() or 1), cores
    if int(n) < 1:
        msg = f"local[{n}] needs at least one executor"
        raise IllegalArgumentException(msg)
    return int(n), cores


@dataclass
class ExecutorInfo:
    executor_id: str
    address: str
    cores: int
    pid: int | None
    last_seen: float


@dataclass
class JobState:
    job_id: int
    plan: JobPlan
    future: Future
    results: dict[int, TaskOutcome] = field(default_factory=dict)
    last_error: str = ""


@dataclass
class TaskInfo:
    task_id: int
    stage_id: int
    partition: int
    executor_id: str


class DriverRuntime:
    """The SparkContext of a session: the driver's scheduler, RPC server and backend."""

    def __init__(self, conf: SparkConf) -> None:
        self.conf = conf
        self.app_name = conf.get("spark.app.name") or "ember"
        self.master = str(conf.get("spark.master"))
        self.on_kubernetes = self.master.startswith("k8s://")
        if self.on_kubernetes:
            self.app_id = conf.get("spark.app.id") or f"spark-{secrets.token_hex(16)}"
            self.token = _app_secret()
            self.num_executors = AllocatorConf.from_conf(all_settings(conf)).target
            self.cores_per_executor = max(1, int(float(conf.get("spark.executor.cores") or 1)))
        else:
            self.app_id = f"app-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
            self.token = secrets.token_urlsafe(32)
            cores = conf.get_int("spark.executor.cores")
            self.num_executors, self.cores_per_executor = parse_master(self.master, cores)
        self.default_parallelism = self.num_executors * self.cores_per_executor
        self.work_dir = Path(conf.get("spark.local.dir") or tempfile.gettempdir()) / self.app_id
        self.work_dir.mkdir(parents=True, exist_ok=True)

        self._lock = threading.RLock()
        self._ids = counter(0)
        self._job_ids = counter(0)
        self._shuffle_ids = counter(0)
        self._broadcast_ids = counter(0)
        self.tracker = MapOutputTracker()
        self.dag = DAGScheduler(self._num_partitions_for, tracker=self.tracker,
                                max_stage_attempts=conf.get_int("spark.stage.maxConsecutiveAttempts"))
        speculation = _speculation(conf)
        # How often the clock checks for stragglers (spark.speculation.interval), if at all.
        self._speculation_interval = (conf.get_seconds("spark.speculation.interval")
                                      if speculation is not None else None)
        self.tasks = TaskScheduler(
            max_failures=conf.get_int("spark.task.maxFailures"),
            cpus_per_task=conf.get_int("spark.task.cpus"),
            locality_wait=parse_seconds(conf.get("spark.locality.wait", "3s") or "3s",
                                        key="spark.locality.wait"),
            speculation=speculation)
        self.block_master = BlockManagerMaster()
        self.cache_manager = CacheManager()
        self.checkpoint_dir: str | None = None
        self.executors: dict[str, ExecutorInfo] = {}
        self.jobs: dict[int, JobState] = {}
        self.stages: dict[int, tuple[int, Stage]] = {}
        self.task_infos: dict[int, TaskInfo] = {}
        self.broadcasts: dict[int, bytes] = {}
        # Broadcast variables the program no longer refers to, noted by garbage collection.
        self.released_broadcasts: list[int] = []
        # Status of a finishing task, read back while the schedulers process its success.
        self._pending_status: dict[int, dict[str, Any]] = {}
        # Stages and task counts of recent jobs, for tests and the UI.
        self.job_history: deque[dict[str, Any]] = deque(maxlen=100)
        self.counters = {"jobs_total": 0, "tasks_launched_total": 0, "tasks_failed_total": 0,
                         "tasks_speculative_total": 0, "executors_lost_total": 0}
        self._launcher = ThreadPoolExecutor(max_workers=8, thread_name_prefix="launch")
        self._stopped = False
        # Set when the backend gives up on the application (too many executor failures).
        self.failure: str | None = None

        if self.on_kubernetes:
            self._start_on_kubernetes()
        else:
            self._start_local()
        self._timeout = conf.get_seconds("spark.network.timeout")
        self._reaper = threading.Thread(target=self._reap_silent_executors, daemon=True,
                                        name="heartbeat-monitor")
        self._reaper.start()
        self._clock = threading.Thread(target=self._tick_clock, daemon=True,
                                       name="locality-clock")
        self._clock.start()
        _live_runtimes.add(self)

    def _start_local(self) -> None:
        from ember.driver.server_socket import bind
        from ember.scheduler.backends.local import LocalBackend

        # Executors start first: their start-up overlaps with the driver server's, including
        # the import of FastAPI and uvicorn below (about 0.3 s of a session's start).
        sock, url = bind()
        self.backend = LocalBackend(
            num_executors=self.num_executors, cores=self.cores_per_executor,
            driver_url=url, app_id=self.app_id, token=self.token,
            work_dir=self.work_dir, on_lost=self.executor_lost, conf=self.conf,
            max_direct_result=self.conf.get_bytes("spark.task.maxDirectResultSize"))
        self.backend.start()
        from ember.driver.server import DriverServer

        self.server = DriverServer(self, sock, url)
        self.server.start()

    def _start_on_kubernetes(self) -> None:
        """Serve on 0.0.0.0 (spark.driver.port), then create executor pods and announce the URL."""
        from ember.driver.server import DriverServer
        from ember.driver.server_socket import bind
        from ember.scheduler.backends.kubernetes import KubernetesBackend

        settings = {**all_settings(self.conf), "spark.app.id": self.app_id}
        namespace = os.environ.get("POD_NAMESPACE") or settings.get("spark.kubernetes.namespace") \
            or "default"
        pod_name = os.environ.get("POD_NAME") or settings.get("spark.kubernetes.driver.pod.name")
        if not pod_name:
            msg = ("spark.kubernetes.driver.pod.name is not set and POD_NAME is empty: on "
                   "Kubernetes the driver runs in a pod that owns its executors\n\n"
                   "submit a SparkApplication, or run `ember driver` in a pod")
            raise IllegalArgumentException(msg)
        sock, url = bind("0.0.0.0", int(settings.get("spark.driver.port") or DRIVER_PORT),
                         os.environ.get("POD_IP") or None,
                         max_retries=int(settings.get("spark.port.maxRetries") or 16))
        self.server = DriverServer(self, sock, url)
        self.server.start()
        api, new_watch = _kubernetes_client()
        backend = KubernetesBackend(
            conf=settings, driver_url=url, api=api, new_watch=new_watch, namespace=namespace,
            driver_pod_name=pod_name, on_lost=self.executor_lost,
            on_fail=self.fail_application)
        self.backend = backend
        log.info("driver %s listening at %s; requesting %d executors of %d cores",
                 self.app_id, url, self.num_executors, self.cores_per_executor)
        backend.publish_driver_url(url)
        backend.start()

    # -- planning ------------------------------------------------------------------------------

    def planner_conf(self) -> PlannerConf:
        adaptive = "spark.sql.execution.aggregate.adaptivePartialAggregation"
        return PlannerConf(
            shuffle_partitions=self.conf.get_int("spark.sql.shuffle.partitions"),
            broadcast_threshold=self.conf.get_bytes("spark.sql.autoBroadcastJoinThreshold"),
            default_parallelism=self.default_parallelism,
            adaptive_partial_aggregation=self.conf.get_bool(f"{adaptive}.enabled"),
            adaptive_min_rows=self.conf.get_int(f"{adaptive}.minRows"),
            adaptive_min_compaction=self.conf.get_float(f"{adaptive}.minCompaction"))

    def optimize(self, plan: LogicalPlan) -> LogicalPlan:
        return optimizer.optimize(self.use_cached_data(plan))

    # -- cached data ---------------------------------------------------------------------------

    def use_cached_data(self, plan: LogicalPlan, *, skip: str | None = None) -> LogicalPlan:
        """``plan`` with each persisted subplan replaced by a `CachedRelation` that knows where
        the cached blocks are now (as Spark's CacheManager.useCachedData)."""
        if not self.cache_manager and not any(isinstance(n, CachedRelation) for n in plan.walk()):
            return plan

        def swap(node: LogicalPlan) -> LogicalPlan:
            if isinstance(node, CachedRelation):
                return replace(node, data=self._cache_data(node.data.cache_id, node.data.level,
                                                           node.data.lineage))
            if not self.cache_manager:
                return node
            key = node.tree_string()
            entry = self.cache_manager.lookup(key) if key != skip else None
            if entry is None:
                return node
            lineage = optimizer.optimize(self.use_cached_data(entry.plan,  # type: ignore[arg-type]
                                                              skip=key))
            data = self._cache_data(entry.cache_id, entry.level, lineage)
            if data.num_partitions is not None and not data.complete \
                    and entry.new_id is not None and not _is_narrow(lineage):
                # Some blocks are lost and the lineage shuffles: adaptive execution may cut
                # the recomputed rows into other partitions than the kept blocks, so every
                # partition is computed again, under a new id.
                old, entry.cache_id = entry.cache_id, entry.new_id()
                self.remove_cached_blocks(old)
                data = self._cache_data(entry.cache_id, entry.level, lineage)
            return CachedRelation(tuple(node.output), data)

        return plan.transform_down(swap)

    def _cache_data(self, cache_id: int, level: StorageLevel,
                    lineage: LogicalPlan | None) -> CacheData:
        snap = self.block_master.snapshot(cache_id, level)
        return CacheData(cache_id, level, lineage, snap.num_partitions, snap.locations)

    def cached_rdd_scan(self, cache_id: int, level: StorageLevel, lineage: PhysicalOp | None,
                        attrs: list[Any]) -> CachedScanExec:
        """The plan of a persisted RDD: its blocks, and its lineage for missing ones."""
        return cached_scan(attrs, self._cache_data(cache_id, level, None), lineage)

    def cache_plan(self, plan: LogicalPlan, cache_id: int, level: StorageLevel, *,
                   new_id: Callable[[], int] | None = None) -> CachedPlan:
        """Persist ``plan`` under ``cache_id``; ``new_id`` renames the dataset when all of it
        must be recomputed."""
        return self.cache_manager.add(plan.tree_string(), cache_id, level, plan, new_id=new_id)

    def cached_entry(self, plan: LogicalPlan) -> CachedPlan | None:
        return self.cache_manager.lookup(plan.tree_string())

    def uncache_plan(self, plan: LogicalPlan) -> bool:
        entry = self.cache_manager.remove(plan.tree_string())
        if entry is not None:
            self.remove_cached_blocks(entry.cache_id)
        return entry is not None

    def clear_cache(self) -> None:
        for entry in self.cache_manager.clear():
            self.remove_cached_blocks(entry.cache_id)

    def remove_cached_blocks(self, cache_id: int) -> None:
        """Forget a dataset's blocks and ask the executors holding them to drop them."""
        holders = self.block_master.remove_rdd(cache_id)
        with self._lock:
            addresses = [e.address for e in self.executors.values() if e.executor_id in holders]
        for address in addresses:
            self._launcher.submit(self._quiet_request, "DELETE", f"{address}/blocks?rdd={cache_id}")

    def block_report(self, report: dict[str, Any]) -> None:
        if report.get("stored"):
            self.block_master.block_stored(report["executor_id"], report["block_id"],
                                           int(report.get("size") or 0),
                                           num_partitions=report.get("num_partitions"))
        else:
            self.block_master.block_removed(report["executor_id"], report["block_id"])

    def _preferred_locations(self, stage_id: int, partitions: tuple[int, ...]) -> dict[int, str]:
        """Partition -> the executor holding its cached block, for a stage that reads one
        cached dataset partition for partition."""
        entry = self.stages.get(stage_id)
        if entry is None:
            return {}
        scans = [op for op in walk(entry[1].root) if isinstance(op, CachedScanExec)]
        if len(scans) != 1:
            return {}
        scan = scans[0]
        preferred: dict[int, str] = {}
        for p in partitions:
            holders = [e for e in self.block_master.locations(cache_block_id(scan.cache_id, p))
                       if e in self.executors]
            if holders:
                preferred[p] = holders[0]
        return preferred

    def _tick_clock(self) -> None:
        """Time for the TaskScheduler's delay scheduling (spark.locality.wait) and its checks
        for stragglers (spark.speculation.interval)."""
        interval = self._speculation_interval
        last_check = 0.0
        while not self._stopped:
            time.sleep(0.1 if interval is None else min(0.1, max(interval, 0.01)))
            while self.released_broadcasts:
                self.unpersist_broadcast(self.released_broadcasts.pop(), destroy=True)
            with self._lock:
                now = time.monotonic()
                check = interval is not None and now - last_check >= interval \
                    and not self.tasks.is_idle()
                if check:
                    last_check = now
                if check or self.tasks.waiting_for_locality():
                    self._process_locked(self.tasks.tick(now))

    # -- broadcast variables -------------------------------------------------------------------

    def broadcast(self, value: Any) -> broadcast_module.Broadcast:
        """``sc.broadcast(value)``: pickled once here, fetched once by each executor."""
        data = broadcast_module.serialize(value)
        with self._lock:
            bid = self._broadcast_ids()
            self.broadcasts[bid] = data
        return broadcast_module.Broadcast(bid, runtime=self, value=value)

    def unpersist_broadcast(self, broadcast_id: int, *, destroy: bool) -> None:
        with self._lock:
            if destroy:
                self.broadcasts.pop(broadcast_id, None)
            addresses = [e.address for e in self.executors.values()]
        for address in addresses:
            self._launcher.submit(self._quiet_request, "DELETE",
                                  f"{address}/blocks?broadcast={broadcast_id}")

    # -- checkpoints ---------------------------------------------------------------------------

    def set_checkpoint_dir(self, directory: str) -> None:
        path = Path(directory[len("file://"):] if directory.startswith("file://") else directory)
        path = path.absolute() / self.app_id
        path.mkdir(parents=True, exist_ok=True)
        self.checkpoint_dir = str(path)

    def new_checkpoint_path(self, name: str) -> str:
        if self.checkpoint_dir is None:
            msg = ("the checkpoint directory is not set\n\ncall "
                   "spark.sparkContext.setCheckpointDir(path) first, or use localCheckpoint()")
            raise IllegalArgumentException(msg)
        path = Path(self.checkpoint_dir) / name
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def physical_plan(self, plan: LogicalPlan) -> PhysicalOp:
        return physical_plan(plan, self.planner_conf())

    # -- actions -------------------------------------------------------------------------------

    def collect(self, plan: LogicalPlan) -> pa.Table:
        for attempt in range(3):
            root = self.physical_plan(self.optimize(plan))
            try:
                return self.collect_physical(root)
            except SparkJobError as exc:
                # A cached block vanished between planning and its task (its executor died):
                # the executor that missed it told the block master, so a new plan
                # recomputes it from lineage.
                if attempt == 2 or _LOST_AFTER_PLANNING not in str(exc):
                    raise
                log.info("a cached block was lost while the job ran; planning it again")
        raise AssertionError("unreachable")

    def collect_physical(self, root: PhysicalOp, *, nested: bool = False) -> pa.Table:
        outcomes = self.run_job(root, ResultSink(), nested=nested)
        schema = schema_of(root.output)
        tables = [decode_result(o.result) for o in outcomes if o.result]
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return schema.empty_table()
        return pa.concat_tables([t.cast(schema) if t.schema != schema else t for t in tables])

    def write_files(self, plan: LogicalPlan, sink: FileWriteSink) -> list[str]:
        """Run ``plan`` with every task writing its rows as files; the paths written."""
        root = self.physical_plan(self.optimize(plan))
        outcomes = self.run_job(root, sink)
        return [f for o in outcomes for f in o.files]

    def run_job(self, root: PhysicalOp, sink: Sink, *, nested: bool = False) -> list[TaskOutcome]:
        """Run ``root`` as one job; sub-jobs first collect broadcasts and sample sort bounds.

        The outermost call owns the shuffles: sub-jobs leave theirs registered so that the job
        reuses the map outputs they computed, and everything is removed at the end.
        """
        if nested:
            return self._run_one_job(self._prepare(root), sink)
        root = _assign_shuffle_ids(root, self._shuffle_ids)
        try:
            return self._run_one_job(self._prepare(root), sink)
        finally:
            self._remove_shuffles([op.shuffle_id for op in walk(root)
                                   if isinstance(op, ExchangeExec) and op.shuffle_id is not None])

    def _run_one_job(self, root: PhysicalOp, sink: Sink) -> list[TaskOutcome]:
        if self.failure is not None:
            raise SparkJobError(self.failure)
        job_plan = split_stages(root, sink, next_stage_id=self._ids,
                                next_shuffle_id=self._shuffle_ids)
        future: Future = Future()
        with self._lock:
            job_id = self._job_ids()
            self.jobs[job_id] = JobState(job_id, job_plan, future)
            self.counters["jobs_total"] += 1
            specs = []
            for sid, stage in job_plan.stages.items():
                self.stages[sid] = (job_id, stage)
                specs.append(StageSpec(sid, stage.parents, stage.shuffle_id, None))
            instructions = self.dag.submit_job(job_id, specs, job_plan.result_stage)
        self._process(instructions)
        try:
            future.result()
        except KeyboardInterrupt:
            with self._lock:
                self._process_locked(self.dag.cancel_job(job_id, reason="interrupted"))
            raise
        finally:
            with self._lock:
                state = self.jobs.pop(job_id)
                for sid in job_plan.stages:
                    self.stages.pop(sid, None)
        self.job_history.append({
            "job_id": job_id,
            "stages": {sid: {"shuffle_id": st.shuffle_id, "num_tasks": st.num_tasks,
                             "reads": dict(st.reads)}
                       for sid, st in job_plan.stages.items()}})
        return [state.results[p] for p in sorted(state.results)]

    def _prepare(self, root: PhysicalOp) -> PhysicalOp:
        """Bottom-up: collect broadcast sides, and sample the bounds of range exchanges."""
        kids = [self._prepare(c) for c in root.children]
        root = root.with_children(kids) if kids else root
        if isinstance(root, BroadcastExchangeExec):
            table = self.collect_physical(root.child, nested=True)
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            with self._lock:
                bid = self._broadcast_ids()
                self.broadcasts[bid] = sink.getvalue().to_pybytes()
            return BroadcastReadExec(bid, tuple(root.output))
        if isinstance(root, ExchangeExec) and isinstance(root.partitioning, RangePartitioning) \
                and root.partitioning.bounds is None:
            part = root.partitioning
            # As Spark's RangePartitioner: about 20 samples per output partition, 3x over.
            k = max(20, math.ceil(60 * part.num_partitions / max(1, self.default_parallelism)))
            sample = self.collect_physical(SampleKeysExec(part.orders, k, root.child), nested=True)
            bounds = compute_bounds(sample, part.orders, part.num_partitions)
            return replace(root, partitioning=replace(part, bounds=bounds))
        return root

    def _remove_shuffles(self, shuffle_ids: list[int]) -> None:
        with self._lock:
            for shuffle_id in shuffle_ids:
                self.tracker.unregister_shuffle(shuffle_id)
            addresses = [e.address for e in self.executors.values()]
        for shuffle_id in shuffle_ids:
            for address in addresses:
                self._launcher.submit(self._quiet_request, "DELETE",
                                      f"{address}/shuffle/{shuffle_id}")

    def _quiet_request(self, method: str, url: str) -> None:
        try:
            rpc.request(method, url, token=self.token, timeout=5)
        except rpc.RpcError as exc:
            log.debug("%s %s failed: %s", method, url, exc)

    # -- scheduler callbacks -------------------------------------------------------------------

    def _num_partitions_for(self, spec: StageSpec, tracker: MapOutputTracker) -> int:
        _, stage = self.stages[spec.stage_id]
        if stage.reads:
            counts = set(stage.reads.values())
            num_reduce = max(counts)
            adaptive = (self.conf.get_bool("spark.sql.adaptive.enabled") and
                        self.conf.get_bool("spark.sql.adaptive.coalescePartitions.enabled"))
            if adaptive and len(counts) == 1:
                sizes = [tracker.sizes_by_reduce(s) or [0] * num_reduce for s in stage.reads]
                stage.reduce_ranges = coalesce_ranges(
                    sizes, num_reduce,
                    target_bytes=self.conf.get_bytes(
                        "spark.sql.adaptive.advisoryPartitionSizeInBytes"),
                    min_bytes=self.conf.get_bytes(
                        "spark.sql.adaptive.coalescePartitions.minPartitionSize"),
                    parallelism=self.default_parallelism)
            else:
                stage.reduce_ranges = tuple((i, i + 1) for i in range(num_reduce))
        count = stage.root.num_partitions(len(stage.reduce_ranges) if stage.reads else 0)
        stage.num_tasks = max(1, count) if stage.reads else count
        return stage.num_tasks

    # -- events from executors -----------------------------------------------------------------

    def executor_registered(self, executor_id: str, address: str, cores: int,
                            pid: int | None) -> None:
        with self._lock:
            self.executors[executor_id] = ExecutorInfo(executor_id, address, cores, pid,
                                                       time.monotonic())
            self.block_master.executor_added(executor_id, address)
            self._process_locked(self.tasks.executor_added(executor_id, cores))

    def executor_heartbeat(self, executor_id: str) -> bool:
        with self._lock:
            info = self.executors.get(executor_id)
            if info is None:
                return False
            info.last_seen = time.monotonic()
            return True

    def executor_lost(self, executor_id: str, reason: str) -> None:
        with self._lock:
            if self.executors.pop(executor_id, None) is None:
                return  # already handled, or it died before registering
            self.counters["executors_lost_total"] += 1
            # Its cached blocks are gone: the next job recomputes them from lineage.
            self.block_master.executor_lost(executor_id)
            self._process_locked(self.tasks.executor_lost(executor_id, reason))

    def fail_application(self, reason: str) -> None:
        """The backend gave up (too many executor failures): fail running and future jobs."""
        with self._lock:
            self.failure = reason
            for job in self.jobs.values():
                if not job.future.done():
                    job.future.set_exception(SparkJobError(reason))

    def _reap_silent_executors(self) -> None:
        while not self._stopped:
            time.sleep(1.0)
            now = time.monotonic()
            with self._lock:
                silent = [e.executor_id for e in self.executors.values()
                          if now - e.last_seen > self._timeout]
            for executor_id in silent:
                self.backend.kill_executor(executor_id)
                self.executor_lost(executor_id, f"executor {executor_id} sent no heartbeat "
                                   f"for {self._timeout:.0f}s (spark.network.timeout)")

    def task_status(self, task_id: int, status: dict[str, Any]) -> None:
        if status["state"] == "FINISHED" and status.get("result_block"):
            info = self.task_infos.get(task_id)
            executor = self.executors.get(status["executor_id"])
            if info is None or executor is None:
                return
            try:
                data = rpc.request("GET", f"{executor.address}/blocks/{status['result_block']}",
                                   token=self.token, timeout=300)
                status["result"] = data
            except rpc.RpcError as exc:
                status = {**status, "state": "FAILED", "error": {
                    "type": "ResultFetchFailed", "message": str(exc), "traceback": ""}}
        elif status.get("result") is not None:
            status["result"] = base64.b64decode(status["result"])
        with self._lock:
            info = self.task_infos.get(task_id)
            if info is None:
                return
            state = status["state"]
            if self._speculation_interval is not None:
                # Run times decide what is a straggler: let the scheduler see this moment.
                self._process_locked(self.tasks.tick(time.monotonic()))
            if state == "FINISHED":
                self._pending_status[task_id] = status
                self._process_locked(self.tasks.task_finished(task_id))
                self._pending_status.pop(task_id, None)
            elif state == "KILLED" or self.tasks.kill_requested(task_id):
                # A task being killed (say, the loser of a speculative race) may fail on its
                # way out: that is no failure of the task.
                self._process_locked(self.tasks.task_killed(task_id))
            else:
                self.counters["tasks_failed_total"] += 1
                err = status.get("error") or {}
                reason = _failure_reason(err)
                job = self._job_of_stage(info.stage_id)
                if job is not None:
                    job.last_error = reason
                ff = status.get("fetch_failed")
                fetch = ev.FetchFailure(ff["shuffle_id"], ff["map_id"], ff["executor_id"],
                                        err.get("message", "")) if ff else None
                self._process_locked(self.tasks.task_failed(task_id, reason=reason,
                                                            fetch_failed=fetch))

    def map_outputs(self, shuffle_id: int) -> list[dict[str, Any] | None] | None:
        with self._lock:
            if not self.tracker.has_shuffle(shuffle_id):
                return None
            return [None if s is None else {"executor_id": s.executor_id, "address": s.address,
                                            "sizes": list(s.sizes)}
                    for s in self.tracker.statuses(shuffle_id)]

    def broadcast_bytes(self, broadcast_id: int) -> bytes | None:
        with self._lock:
            return self.broadcasts.get(broadcast_id)

    def metrics(self) -> dict[str, float]:
        with self._lock:
            return {**self.counters, "executors_active": len(self.executors),
                    "jobs_active": len(self.jobs)}

    # -- carrying out instructions -------------------------------------------------------------

    def _process(self, instructions: list[ev.Instruction]) -> None:
        with self._lock:
            self._process_locked(instructions)

    def _job_of_stage(self, stage_id: int) -> JobState | None:
        entry = self.stages.get(stage_id)
        return self.jobs.get(entry[0]) if entry else None

    def _process_locked(self, instructions: list[ev.Instruction]) -> None:
        work = list(instructions)
        while work:
            ins = work.pop(0)
            if isinstance(ins, ev.SubmitTasks):
                work += self.tasks.tick(time.monotonic())
                work += self.tasks.submit_taskset(
                    ins.stage_id, ins.stage_attempt, ins.partitions,
                    preferred=self._preferred_locations(ins.stage_id, tuple(ins.partitions)))
            elif isinstance(ins, ev.LaunchTask):
                work += self._launch(ins)
            elif isinstance(ins, ev.KillTask):
                executor = self.executors.get(ins.executor_id)
                if executor is not None:
                    self._launcher.submit(self._quiet_request, "DELETE",
                                          f"{executor.address}/tasks/{ins.task_id}")
            elif isinstance(ins, ev.CancelStage):
                work += self.tasks.cancel_stage(ins.stage_id, ins.stage_attempt)
            elif isinstance(ins, ev.TaskSucceeded):
                work += self._task_succeeded(ins)
            elif isinstance(ins, ev.TaskFetchFailed):
                work += self.dag.task_fetch_failed(
                    ins.stage_id, ins.stage_attempt, ins.partition, ins.shuffle_id, ins.map_id,
                    ins.executor_id, message=ins.message)
            elif isinstance(ins, ev.TaskSetAborted):
                work += self.dag.taskset_failed(ins.stage_id, ins.stage_attempt, ins.message)
            elif isinstance(ins, ev.ExecutorRemoved):
                work += self.dag.executor_lost(ins.executor_id)
            elif isinstance(ins, ev.JobSucceeded):
                job = self.jobs.get(ins.job_id)
                if job is not None and not job.future.done():
                    job.future.set_result(None)
            elif isinstance(ins, ev.JobFailed):
                job = self.jobs.get(ins.job_id)
                if job is not None and not job.future.done():
                    job.future.set_exception(SparkJobError(ins.message))

    def _task_succeeded(self, ins: ev.TaskSucceeded) -> list[ev.Instruction]:
        status = self._pending_status.get(ins.task_id, {})
        entry = self.stages.get(ins.stage_id)
        if entry is None:
            return []
        job_id, stage = entry
        map_status = None
        if stage.shuffle_id is not None:
            executor = self.executors.get(ins.executor_id)
            address = executor.address if executor else ""
            map_status = MapStatus(ins.executor_id, address, tuple(status.get("sizes") or ()))
        else:
            job = self.jobs.get(job_id)
            if job is not None:
                job.results[ins.partition] = TaskOutcome(
                    result=status.get("result"), files=tuple(status.get("files") or ()),
                    metrics=status.get("metrics") or {})
        return self.dag.task_succeeded(ins.stage_id, ins.stage_attempt, ins.partition, map_status)

    def _launch(self, ins: ev.LaunchTask) -> list[ev.Instruction]:
        """Send a task to its executor; a task that cannot be sent is reported back to the
        TaskScheduler at once, so that no slot stays taken by a task that never ran."""
        entry = self.stages.get(ins.stage_id)
        executor = self.executors.get(ins.executor_id)
        if entry is None:  # the stage ended (its job failed or was cancelled)
            return self.tasks.task_killed(ins.task_id)
        if executor is None:
            return self.tasks.task_failed(
                ins.task_id, reason=f"executor {ins.executor_id} was lost before the task started")
        job_id, stage = entry
        desc = TaskDescription(
            task_id=ins.task_id, stage_id=ins.stage_id, stage_attempt=ins.stage_attempt,
            partition=ins.partition, attempt_number=ins.attempt_number,
            root=stage.root.for_task(ins.partition), sink=stage.sink,
            reduce_ranges=stage.reduce_ranges, job_id=job_id)
        self.task_infos[ins.task_id] = TaskInfo(ins.task_id, ins.stage_id, ins.partition,
                                                ins.executor_id)
        try:
            payload = cloudpickle.dumps(desc)
        except Exception as exc:  # noqa: BLE001 - any object in a plan may refuse pickling
            return self.tasks.task_failed(ins.task_id, reason=(
                f"the task could not be serialized: {type(exc).__name__}: {exc}\n\n"
                "functions and values used by the query must be picklable by cloudpickle"))
        self.counters["tasks_launched_total"] += 1
        if ins.speculative:
            self.counters["tasks_speculative_total"] += 1
        self._launcher.submit(self._post_task, ins.task_id, executor, payload)
        return []

    def _post_task(self, task_id: int, executor: ExecutorInfo, payload: bytes) -> None:
        try:
            rpc.request("POST", f"{executor.address}/tasks", token=self.token, body=payload,
                        content_type="application/octet-stream", timeout=30)
        except rpc.RpcError as exc:
            if exc.status is None:
                # Unreachable: the executor is gone. Its tasks are re-queued elsewhere without
                # counting as task failures, as for any lost executor.
                self.backend.kill_executor(executor.executor_id)
                self.executor_lost(executor.executor_id,
                                   f"executor {executor.executor_id} is unreachable: {exc}")
                return
            with self._lock:
                self._process_locked(self.tasks.task_failed(
                    task_id, reason=f"could not launch the task on {executor.address}: {exc}"))

    # -- shutdown ------------------------------------------------------------------------------

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        with self._lock:
            for job in self.jobs.values():
                if not job.future.done():
                    job.future.set_exception(SparkJobError("the SparkSession was stopped"))
        self.backend.stop()
        self.server.stop()
        self._launcher.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.work_dir, ignore_errors=True)
        _live_runtimes.discard(self)

    def executor_pids(self) -> dict[str, int]:
        return self.backend.pids()


_LOST_AFTER_PLANNING = "was lost after the job was planned"


def _is_narrow(plan: LogicalPlan) -> bool:
    """Whether ``plan`` runs without a shuffle, so its partitions never move."""
    narrow = (LocalRelation, Range, FileRelation, Project, Filter, SubqueryAlias, Generate,
              Sample, Union, CachedRelation, CheckpointRelation)
    return all(isinstance(node, narrow) for node in plan.walk())


def all_settings(conf: SparkConf) -> dict[str, str]:
    """Every setting in effect that was given: submitted ones (``ember submit --conf``, the
    driver pod's spark.properties), overridden by those set on ``conf``."""
    return {**conf_module._submitted, **dict(conf.getAll())}


def _speculation(conf: SparkConf) -> Speculation | None:
    """The spark.speculation.* settings, or None when speculation is off (the default)."""
    if not conf.get_bool("spark.speculation"):
        return None
    numbers: dict[str, float] = {}
    for key in ("spark.speculation.multiplier", "spark.speculation.quantile"):
        value = conf.get(key)
        try:
            numbers[key] = float(str(value))
        except ValueError:
            msg = f"{key} must be a number, got {value!r}"
            raise IllegalArgumentException(msg) from None
    try:
        return Speculation(multiplier=numbers["spark.speculation.multiplier"],
                           quantile=numbers["spark.speculation.quantile"],
                           min_runtime=conf.get_seconds("spark.speculation.minTaskRuntime"))
    except ValueError as exc:
        raise IllegalArgumentException(str(exc)) from None


def _app_secret() -> str:
    token = os.environ.get("EMBER_SECRET", "")
    if not token:
        msg = ("EMBER_SECRET is not set: on Kubernetes the driver and its executors share the "
               "application's token from its Secret\n\nrun the driver from a SparkApplication "
               "(the operator creates the Secret), or set EMBER_SECRET in the driver pod")
        raise IllegalArgumentException(msg)
    return token


def _kubernetes_client() -> tuple[Any, Callable[[], Any]]:
    """A CoreV1Api: in-cluster when KUBERNETES_SERVICE_HOST is set, else from KUBECONFIG."""
    from kubernetes import client, config, watch

    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        api_client = client.ApiClient(configuration)
    else:
        api_client = config.new_client_from_config()
    return client.CoreV1Api(api_client), watch.Watch


def _assign_shuffle_ids(root: PhysicalOp, next_id: Callable[[], int]) -> PhysicalOp:
    kids = [_assign_shuffle_ids(c, next_id) for c in root.children]
    root = root.with_children(kids) if kids else root
    if isinstance(root, ExchangeExec) and root.shuffle_id is None:
        return replace(root, shuffle_id=next_id())
    return root


def _failure_reason(err: dict[str, Any]) -> str:
    kind = err.get("type", "Exception")
    message = err.get("message", "")
    tb = err.get("traceback", "")
    if tb:
        return f"{kind}: {message}\n{tb}".rstrip()
    return f"{kind}: {message}"


_live_runtimes: weakref.WeakSet[DriverRuntime] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for runtime in list(_live_runtimes):
        try:
            runtime.stop()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            log.debug("stopping a runtime at exit failed", exc_info=True)

