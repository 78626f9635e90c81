"""``SparkContext``: the entry point to RDDs, one per ``SparkSession``.

>>> sc = spark.sparkContext  # doctest: +SKIP
>>> sc.parallelize(range(10), 3).map(lambda x: x * x).sum()  # doctest: +SKIP
285
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
import pickle
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cloudpickle
import pyarrow as pa

from ember.core import lineage
from ember.core.conf import SparkConf
from ember.exec import python_rdd as prdd
from ember.exec.operators import PhysicalOp, RangeExec
from ember.exec.scan import list_files
from ember.exec.task import ResultSink, decode_result
from ember.plan.expressions import AttributeReference
from ember.plan.physical import walk

if TYPE_CHECKING:
    from ember.core.broadcast import Broadcast
    from ember.core.rdd import RDD
    from ember.driver.runtime import DriverRuntime
    from ember.sql.session import SparkSession

_LOG_LEVELS = {"ALL": logging.NOTSET, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
               "WARN": logging.WARNING, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
               "FATAL": logging.CRITICAL, "OFF": logging.CRITICAL + 10,
               "TRACE": logging.DEBUG}


class SparkContext:
    """The RDD side of a session: creates RDDs and runs their jobs on the session's executors.

    ``SparkContext(conf=...)`` and ``SparkContext.getOrCreate()`` return the context of the
    active session, creating the session if there is none, so there is one context per session.
    """

    _lock = threading.RLock()

    def __new__(cls, master: str | None = None, appName: str | None = None,
                conf: SparkConf | None = None, **_: Any) -> SparkContext:
        from ember.sql.session import SparkSession

        builder = SparkSession.builder
        if conf is not None:
            builder = builder.config(conf=conf)
        if master is not None:
            builder = builder.master(master)
        if appName is not None:
            builder = builder.appName(appName)
        return builder.getOrCreate().sparkContext

    def __init__(self, master: str | None = None, appName: str | None = None,
                 conf: SparkConf | None = None, **_: Any) -> None:
        # Set up once, by ``_for_session``; ``SparkContext(...)`` returns that same object.
        pass

    @classmethod
    def _for_session(cls, session: SparkSession) -> SparkContext:
        sc = object.__new__(cls)
        sc._session = session
        sc._start_time = int(time.time() * 1000)
        sc._released: list[int] = []
        sc._rdd_ids = itertools.count()
        return sc

    @classmethod
    def getOrCreate(cls, conf: SparkConf | None = None) -> SparkContext:
        return cls(conf=conf)

    # -- plumbing ------------------------------------------------------------------------------

    _session: SparkSession
    _start_time: int
    _released: list[int]

    def _runtime(self) -> DriverRuntime:
        return self._session._runtime()

    def _new_rdd_id(self) -> int:
        with self._lock:
            return next(self._rdd_ids)

    def _new_shuffle_id(self) -> int:
        return self._runtime()._shuffle_ids()

    def _shuffle_released(self, shuffle_id: int) -> None:
        # Called by garbage collection, in any thread: only note it; the next job removes it.
        self._released.append(shuffle_id)

    def _remove_released_shuffles(self, runtime: DriverRuntime) -> None:
        ids: list[int] = []
        while self._released:
            ids.append(self._released.pop())
        if ids:
            runtime._remove_shuffles(ids)

    def _run_job(self, root: PhysicalOp) -> list[pa.Table]:
        """Run ``root`` with a result sink; one table of pickled chunks per result partition.

        RDD shuffles keep their map outputs for later jobs; shuffles planned inside DataFrame
        plans get ids for this job only and are removed after it.
        """
        from ember.driver.runtime import _assign_shuffle_ids

        runtime = self._runtime()
        _check_picklable(root)
        self._remove_released_shuffles(runtime)
        kept = lineage.shuffle_ids(root)
        root = _assign_shuffle_ids(root, runtime._shuffle_ids)
        temporary = sorted(lineage.shuffle_ids(root) - kept)
        try:
            outcomes = runtime.run_job(root, ResultSink(), nested=True)
        finally:
            if temporary:
                runtime._remove_shuffles(temporary)
        empty = pa.table({"records": pa.array([], pa.binary())})
        return [decode_result(o.result) if o.result else empty for o in outcomes]

    # -- properties ----------------------------------------------------------------------------

    @property
    def defaultParallelism(self) -> int:
        return self._runtime().default_parallelism

    @property
    def defaultMinPartitions(self) -> int:
        return min(self.defaultParallelism, 2)

    @property
    def appName(self) -> str:
        return self._runtime().app_name

    @property
    def master(self) -> str:
        return self._runtime().master

    @property
    def applicationId(self) -> str:
        return self._runtime().app_id

    @property
    def startTime(self) -> int:
        return self._start_time

    @property
    def version(self) -> str:
        return self._session.version

    def sparkUser(self) -> str:
        import getpass

        return os.environ.get("SPARK_USER") or getpass.getuser()

    def getConf(self) -> SparkConf:
        return self._session._conf.copy()

    def setLogLevel(self, logLevel: str) -> None:
        level = _LOG_LEVELS.get(logLevel.upper())
        if level is None:
            msg = (f"unknown log level {logLevel!r}\n\n"
                   f"use one of {', '.join(sorted(_LOG_LEVELS))}")
            raise ValueError(msg)
        logging.getLogger("ember").setLevel(level)

    def setJobDescription(self, value: str) -> None:
        """Accepted for compatibility; jobs are not labelled yet."""

    def setJobGroup(self, groupId: str, description: str, interruptOnCancel: bool = False) -> None:
        """Accepted for compatibility; jobs are not grouped yet."""

    def stop(self) -> None:
        self._session.stop()

    # -- broadcast and checkpoints -------------------------------------------------------------

    def broadcast(self, value: Any) -> Broadcast:
        """A read-only copy of ``value`` for tasks: pickled once, fetched once per executor.

        >>> b = sc.broadcast([1, 2, 3])  # doctest: +SKIP
        >>> sc.parallelize([0, 1]).map(lambda i: b.value[i]).collect()  # doctest: +SKIP
        [1, 2]
        """
        return self._runtime().broadcast(value)

    def setCheckpointDir(self, dirName: str) -> None:
        """Where ``checkpoint()`` writes: a directory every executor can read (a shared
        volume on Kubernetes)."""
        self._runtime().set_checkpoint_dir(dirName)

    def getCheckpointDir(self) -> str | None:
        return self._runtime().checkpoint_dir

    def __enter__(self) -> SparkContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<SparkContext master={self.master} appName={self.appName}>"

    # -- creating RDDs -------------------------------------------------------------------------

    def parallelize(self, c: Iterable[Any], numSlices: int | None = None) -> RDD:
        """An RDD of the items of ``c`` in ``numSlices`` partitions (default parallelism).

        A ``range`` is not materialised: each partition computes its slice.
        """
        from ember.core.rdd import RDD

        n = self.defaultParallelism if numSlices is None else int(numSlices)
        if n < 1:
            msg = f"numSlices must be at least 1, got {n}"
            raise ValueError(msg)
        if isinstance(c, range):
            if c.step > 0:
                stop = c.start + len(c) * c.step
            else:
                stop = c.start - len(c) * -c.step
            op = RangeExec(c.start, stop, c.step, n, AttributeReference("id", pa.int64(), False))
            return RDD(self, lineage.ArrowSource(op, prdd.column_values, "ParallelCollection"))
        data = list(c)
        size = len(data)
        tables = tuple(prdd.chunk_table(data[size * i // n: size * (i + 1) // n])
                       for i in range(n))
        return RDD(self, lineage.LocalSource(tables))

    def range(self, start: int, end: int | None = None, step: int = 1,
              numSlices: int | None = None) -> RDD:
        """An RDD of the ints ``range(start, end, step)`` (``range(start)`` without ``end``)."""
        if end is None:
            start, end = 0, start
        return self.parallelize(range(start, end, step), numSlices)

    def emptyRDD(self) -> RDD:
        """An RDD with no partitions and no records."""
        from ember.core.rdd import RDD

        return RDD(self, lineage.LocalSource(()))

    def textFile(self, name: str, minPartitions: int | None = None,
                 use_unicode: bool = True) -> RDD:
        """The lines of a text file, a directory of them, a glob, or comma-separated paths.

        Files are split as Hadoop splits them, into at least ``minPartitions`` byte ranges
        (default ``min(defaultParallelism, 2)``); ``.gz`` files are read whole.
        """
        from ember.core.rdd import RDD

        files = _text_files(name)
        n = self.defaultMinPartitions if minPartitions is None else int(minPartitions)
        splits = prdd.text_splits([(f, os.path.getsize(f)) for f in files], n)
        op = prdd.TextFileExec(tuple(splits), AttributeReference("value", pa.string(), False))
        return RDD(self, lineage.ArrowSource(op, prdd.column_values, f"TextFile {name}"))

    def union(self, rdds: list[RDD]) -> RDD:
        """The records of all ``rdds``: their partitions one after another, or, when they share a
        partitioner, partition ``i`` of each in partition ``i``."""
        from ember.core.rdd import RDD

        if not rdds:
            return self.emptyRDD()
        if len(rdds) == 1:
            return rdds[0]
        partitioner = rdds[0].partitioner
        if partitioner is not None and all(r.partitioner == partitioner for r in rdds):
            # As Spark's PartitionerAwareUnionRDD: co-partitioned inputs stay co-partitioned.
            return RDD(self, lineage.PartitionwiseUnionSource(tuple(rdds)),
                       partitioner=partitioner)
        return RDD(self, lineage.UnionSource(tuple(rdds)))


def _check_picklable(root: PhysicalOp) -> None:
    """Pickle the user's functions before the job starts, so that a function that cannot
    travel fails the action with a clear error instead of a task launch."""
    for op in walk(root):
        if isinstance(op, prdd.PythonPipelineExec | prdd.PythonPartitionExec):
            try:
                cloudpickle.dumps(op.func)
            except Exception as exc:
                msg = (f"could not serialize a function of this RDD for the executors: {exc}"
                       "\n\nfunctions and the values they capture must be picklable")
                raise pickle.PicklingError(msg) from exc


def _text_files(name: str) -> list[str]:
    files: list[str] = []
    for part in (p.strip() for p in str(name).split(",")):
        if not part:
            continue
        path = part[len("file://"):] if part.startswith("file://") else part
        if not Path(path).exists() and glob.has_magic(path):
            matches = sorted(glob.glob(path))
            if not matches:
                msg = (f"[PATH_NOT_FOUND] no file matches the pattern {part}\n\n"
                       "check the path and the glob")
                from ember.errors import AnalysisException

                raise AnalysisException(msg)
            files.extend(list_files(matches))
        else:
            files.extend(list_files([path]))
    return files
