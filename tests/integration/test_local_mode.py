"""Local mode runs real executor processes that talk HTTP: prove it, and break them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from ember.driver.runtime import parse_master
from ember.errors import AnalysisException, IllegalArgumentException, SparkJobError
from ember.sql import functions as F


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _wait_dead(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _http(method: str, url: str, *, token: str | None = None, body: bytes | None = None,
          content_type: str = "application/octet-stream") -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_executors(runtime, n: int, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while len(runtime.executors) < n:
        assert time.monotonic() < deadline, f"only {len(runtime.executors)} executors registered"
        time.sleep(0.02)


def test_parse_master() -> None:
    assert parse_master("local", 1) == (1, 1)
    assert parse_master("local[3]", 2) == (3, 2)
    assert parse_master("local[*]", 1) == (os.cpu_count(), 1)
    with pytest.raises(IllegalArgumentException, match="unsupported master"):
        parse_master("yarn", 1)


def test_executors_are_separate_processes(spark) -> None:  # type: ignore[no-untyped-def]
    assert spark.range(10).count() == 10
    runtime = spark._runtime()
    _wait_executors(runtime, 2)
    pids = set(runtime.executor_pids().values())
    assert len(pids) == 2
    assert os.getpid() not in pids
    assert all(_alive(p) for p in pids)
    registered = {e.pid for e in runtime.executors.values()}
    assert registered == pids


def test_shuffle_bytes_cross_http_between_executors(spark) -> None:  # type: ignore[no-untyped-def]
    runtime = spark._runtime()
    _wait_executors(runtime, 2)

    def remote_bytes() -> int:
        total = 0
        for e in runtime.executors.values():
            _, text = _http("GET", f"{e.address}/metrics")
            for line in text.decode().splitlines():
                if line.startswith("ember_executor_shuffle_read_remote_bytes_total"):
                    total += int(float(line.split()[-1]))
        return total

    before = remote_bytes()
    df = spark.range(0, 200_000, numPartitions=4).withColumn("k", F.col("id") % 100)
    rows = df.groupBy("k").agg(F.sum("id").alias("s"), F.count("*").alias("n")).collect()
    assert len(rows) == 100
    assert {r["k"]: r["s"] for r in rows} == {
        k: sum(range(k, 200_000, 100)) for k in range(100)}
    assert all(r["n"] == 2000 for r in rows)
    assert remote_bytes() > before


def test_shuffle_partitions_setting_is_honoured(make_session) -> None:  # type: ignore[no-untyped-def]
    spark = make_session("local[2]", {"spark.sql.shuffle.partitions": 7,
                                      "spark.sql.adaptive.enabled": "false"})
    df = spark.range(0, 1000).withColumn("k", F.col("id") % 10)
    assert len(df.groupBy("k").count().collect()) == 10
    stages = spark._runtime().job_history[-1]["stages"]
    reads = [s["reads"] for s in stages.values() if s["reads"]]
    assert reads == [{next(iter(reads[0])): 7}]
    result_stage = [s for s in stages.values() if s["shuffle_id"] is None][0]
    assert result_stage["num_tasks"] == 7


def test_adaptive_execution_coalesces_small_shuffle_partitions(spark) -> None:  # type: ignore[no-untyped-def]
    spark.conf.set("spark.sql.shuffle.partitions", 50)
    try:
        df = spark.range(0, 1000).withColumn("k", F.col("id") % 10)
        assert len(df.groupBy("k").count().collect()) == 10
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", 4)
    stages = spark._runtime().job_history[-1]["stages"]
    result_stage = [s for s in stages.values() if s["shuffle_id"] is None][0]
    assert result_stage["reads"] and list(result_stage["reads"].values()) == [50]
    assert result_stage["num_tasks"] < 50


def test_kill_9_of_an_executor_during_a_shuffle_still_gives_the_right_answer(  # type: ignore[no-untyped-def]
        make_session) -> None:
    spark = make_session("local[2]", {"spark.sql.shuffle.partitions": 8})
    runtime = spark._runtime()
    _wait_executors(runtime, 2)
    n = 3_000_000
    df = spark.range(0, n, numPartitions=8).withColumn("k", F.col("id") % 1000)
    query = df.groupBy("k").agg(F.sum("id").alias("s")).orderBy("k")
    killed: list[str] = []

    def killer() -> None:
        # Kill an executor as soon as it holds map output of the running job's shuffle.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            with runtime._lock:
                holders = runtime.tracker.executors_with_outputs()
            if holders:
                victim = sorted(holders)[0]
                pid = runtime.executor_pids().get(victim)
                if pid:
                    os.kill(pid, 9)
                    killed.append(victim)
                    return
            time.sleep(0.002)

    t = threading.Thread(target=killer)
    t.start()
    rows = query.collect()
    t.join()
    assert killed, "the job finished before an executor could be killed"
    assert [r["k"] for r in rows] == list(range(1000))
    assert all(r["s"] == sum(range(r["k"], n, 1000)) for r in rows)
    # The backend replaced the lost executor.
    _wait_executors(runtime, 2)
    assert killed[0] not in runtime.executors
    assert spark.range(100).count() == 100


def test_executor_refuses_requests_without_the_token_and_stays_up(spark) -> None:  # type: ignore[no-untyped-def]
    runtime = spark._runtime()
    _wait_executors(runtime, 2)
    address = next(iter(runtime.executors.values())).address
    assert _http("POST", f"{address}/tasks", body=b"x")[0] == 401
    assert _http("POST", f"{address}/tasks", token="wrong", body=b"x")[0] == 401
    assert _http("GET", f"{address}/shuffle/0/0/0")[0] == 401
    status, body = _http("POST", f"{address}/tasks", token=runtime.token, body=b"not a pickle")
    assert status == 400 and b"not a serialized task" in body
    status, _ = _http("GET", f"{address}/shuffle/abc/0/0", token=runtime.token)
    assert status == 422
    status, _ = _http("GET", f"{address}/shuffle/999/0/0", token=runtime.token)
    assert status == 404
    assert _http("GET", f"{address}/healthz")[0] == 200
    assert spark.range(5).count() == 5


def test_driver_refuses_malformed_requests_and_stays_up(spark) -> None:  # type: ignore[no-untyped-def]
    runtime = spark._runtime()
    url = runtime.server.url
    assert _http("POST", f"{url}/executors", body=b"{}")[0] == 401
    token = runtime.token
    assert _http("POST", f"{url}/executors", token=token, body=b"{bad json",
                 content_type="application/json")[0] == 422
    bad_status = json.dumps({"executor_id": "0", "state": "EXPLODED"}).encode()
    assert _http("POST", f"{url}/tasks/1/status", token=token, body=bad_status,
                 content_type="application/json")[0] == 422
    beat = json.dumps({"running_tasks": []}).encode()
    assert _http("POST", f"{url}/executors/nope/heartbeat", token=token, body=beat,
                 content_type="application/json")[0] == 404
    assert _http("GET", f"{url}/map-outputs/123456", token=token)[0] == 404
    assert _http("GET", f"{url}/healthz")[0] == 200
    assert spark.range(5).count() == 5


def test_user_error_reports_the_original_traceback_after_retries(spark) -> None:  # type: ignore[no-untyped-def]
    def explode(x: int) -> int:
        if x == 3:
            raise ValueError("boom at three")
        return x

    boom = F.udf(explode, "long")
    df = spark.range(0, 10, numPartitions=2).select(boom("id").alias("v"))
    with pytest.raises(SparkJobError) as info:
        df.collect()
    message = str(info.value)
    assert "failed 4 times" in message
    assert "ValueError: boom at three" in message
    assert "in explode" in message
    # The session stays usable.
    assert spark.range(3).count() == 3


def test_analysis_errors_leave_the_session_usable(spark) -> None:  # type: ignore[no-untyped-def]
    df = spark.createDataFrame([(1, "a")], ["id", "name"])
    with pytest.raises(AnalysisException, match="`nmae` cannot be resolved.*`name`"):
        df.select("nmae")
    with pytest.raises(AnalysisException, match="arithmetic needs numeric operands"):
        df.select(F.col("name") + F.lit(True))
    assert df.select("name").collect()[0]["name"] == "a"


def test_stop_leaves_no_executor_processes(make_session) -> None:  # type: ignore[no-untyped-def]
    spark = make_session("local[2]")
    assert spark.range(3).count() == 3
    pids = list(spark._runtime().executor_pids().values())
    assert len(pids) == 2
    spark.stop()
    assert _wait_dead(pids) == []


def test_interpreter_exit_leaves_no_executor_processes() -> None:
    script = (
        "from ember.sql import SparkSession\n"
        "spark = SparkSession.builder.master('local[2]').getOrCreate()\n"
        "assert spark.range(4).count() == 4\n"
        "print(' '.join(str(p) for p in spark._runtime().executor_pids().values()), flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True)
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2
    assert _wait_dead(pids) == []


def test_hard_killed_driver_takes_its_executors_with_it() -> None:
    script = (
        "import os, sys\n"
        "from ember.sql import SparkSession\n"
        "spark = SparkSession.builder.master('local[2]').getOrCreate()\n"
        "assert spark.range(4).count() == 4\n"
        "print(' '.join(str(p) for p in spark._runtime().executor_pids().values()), flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    proc.kill()
    proc.wait()
    assert _wait_dead(pids) == []


def test_global_sort_range_partitions_across_tasks_and_reuses_its_sampled_shuffle(  # type: ignore[no-untyped-def]
        make_session) -> None:
    spark = make_session("local[2]", {"spark.sql.shuffle.partitions": 6,
                                      "spark.sql.adaptive.enabled": "false"})
    n = 30_000
    df = spark.range(0, n, numPartitions=3).withColumn(
        "k", F.when(F.col("id") % 7 == 0, F.lit(None)).otherwise((F.col("id") * 7919) % 500))
    grouped = df.groupBy("k").agg(F.count("*").alias("c"))
    rows = grouped.orderBy(F.desc("c"), F.asc_nulls_last("k")).collect()
    expected: dict[int | None, int] = {}
    for i in range(n):
        key = None if i % 7 == 0 else (i * 7919) % 500
        expected[key] = expected.get(key, 0) + 1
    want = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or 0))
    assert [(r["k"], r["c"]) for r in rows] == want
    history = list(spark._runtime().job_history)
    sample_job, main_job = history[-2], history[-1]
    # The sort's exchange ran 6 reduce tasks, and the aggregation's map stage, computed by the
    # sampling job, was not run again.
    result = [s for s in main_job["stages"].values() if s["shuffle_id"] is None][0]
    assert result["num_tasks"] == 6
    agg_shuffle = [s["shuffle_id"] for s in sample_job["stages"].values()
                   if s["shuffle_id"] is not None][0]
    reused = [s for s in main_job["stages"].values() if s["shuffle_id"] == agg_shuffle]
    assert reused and reused[0]["num_tasks"] == 0


def test_executor_cores_set_the_task_slots_of_each_executor(make_session) -> None:  # type: ignore[no-untyped-def]
    spark = make_session("local[1]", {"spark.executor.cores": 2})
    runtime = spark._runtime()
    _wait_executors(runtime, 1)
    assert [e.cores for e in runtime.executors.values()] == [2]

    def interval(x: int) -> str:
        start = time.time()
        time.sleep(0.5)
        return f"{os.getpid()} {start} {time.time()}"

    spans = spark.range(0, 2, numPartitions=2).select(
        F.udf(interval, "string")("id").alias("span")).collect()
    (pid_a, a0, a1), (pid_b, b0, b1) = (r["span"].split() for r in spans)
    # One executor process ran both tasks at the same time, in two slots.
    assert pid_a == pid_b
    assert float(a0) < float(b1) and float(b0) < float(a1)


def test_a_task_that_cannot_be_serialized_fails_its_job_and_frees_its_slot(spark) -> None:  # type: ignore[no-untyped-def]
    import threading as th

    lock = th.Lock()  # locks cannot be pickled

    def uses_a_lock(x: int) -> int:
        with lock:
            return x

    with pytest.raises(SparkJobError, match="could not be serialized"):
        spark.range(4).select(F.udf(uses_a_lock, "long")("id")).collect()
    assert spark._runtime().tasks.is_idle()
    assert spark.range(6).count() == 6
