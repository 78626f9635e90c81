"""Spill: executors with spark.executor.memory=512m aggregate, join and sort a table of ~2 GB.

The table (Arrow size ``--gb``, default 2) is generated once as Parquet under
``benchmarks/data/spill/``. ember runs in local mode with two executors of one core each, a
512m heap (about 127 MiB of unified memory each) and few shuffle partitions, so every reduce
task's aggregation state, join build side and sort input is far larger than its share of
execution memory. Each answer is checked against DuckDB on the same files:

- aggregation: ``GROUP BY k`` with sum, count and max, checked through a fingerprint (groups,
  total of the sums and counts, maximum of the maxima) computed over the grouped result;
- join: a dimension of one row per key, left-joined to the facts, so the facts are the build
  side (a shuffled hash join builds the right side of a left join), checked by count, matched
  count and sum;
- sort: the whole table ``ORDER BY x, id``, written as Parquet; DuckDB reads the parts in order
  and checks the row count, the sum and that no row is smaller than the one before it.

Time, spill bytes and files (from the executors' /metrics) and the executors' peak RSS go to
``benchmarks/results/spill-<date>.md``.

With ``--local-cluster`` the same jobs run as a SparkApplication on ``ember local-cluster``: the
operator starts the driver pod, which runs this file (``--report``), and two executor pods whose
memory limit (``memory + max(384Mi, 0.1 x memory)``, 896Mi for 512m) the local kubelet enforces
with a cgroup when it runs as root. The results then also say whether any executor pod was
OOMKilled and the peak memory of each pod's cgroup (``spill-<date>-local-cluster.md``).

Run: python benchmarks/spill.py [--gb 2] [--partitions 8] [--memory 512m] [--local-cluster]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROW_BYTES = 8 + 8 + 8 + 4 + 20  # id, k, x, string offsets and about 20 characters
CHUNK_ROWS = 2_000_000


def generate(directory: Path, gb: float) -> tuple[Path, Path, int]:
    """facts(id, k, x, s) of about ``gb`` GB in Arrow, and dims(key, label): one row per k."""
    rows = int(gb * 1e9 / ROW_BYTES)
    keys = max(1, rows // 4)
    facts, dims = directory / f"facts-{gb:g}gb", directory / f"dims-{gb:g}gb.parquet"
    if facts.is_dir() and dims.exists():
        return facts, dims, rows
    shutil.rmtree(facts, ignore_errors=True)
    facts.mkdir(parents=True)
    rng = np.random.default_rng(2026)
    for i, start in enumerate(range(0, rows, CHUNK_ROWS)):
        n = min(CHUNK_ROWS, rows - start)
        k = rng.integers(0, keys, n)
        x = rng.normal(size=n)
        table = pa.table({
            "id": pa.array(np.arange(start, start + n)),
            "k": pa.array(k, mask=rng.random(n) < 0.01),
            "x": pa.array(x, mask=rng.random(n) < 0.01),
            "s": pa.array(np.char.add("customer-name-", (k % 100_003).astype(str))),
        })
        pq.write_table(table, facts / f"part-{i:05d}.parquet", row_group_size=512 * 1024)
    key = np.arange(keys)
    pq.write_table(pa.table({"key": pa.array(key),
                             "label": pa.array(np.char.add("label-", (key % 9973).astype(str)))}),
                   dims, row_group_size=512 * 1024)
    return facts, dims, rows


def executor_figures(spark) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    """Per executor: spill bytes and files so far (its /metrics) and its peak RSS."""
    out = {}
    for executor_id, executor in spark._runtime().executors.items():
        figures = {"spill_bytes": 0.0, "spill_files": 0.0, "peak_rss_mib": 0.0}
        with urllib.request.urlopen(f"{executor.address}/metrics", timeout=10) as resp:
            for line in resp.read().decode().splitlines():
                for name in ("spill_bytes", "spill_files"):
                    if line.startswith(f"ember_executor_{name}_total"):
                        figures[name] = float(line.split()[-1])
                if line.startswith("ember_executor_process_peak_rss_bytes"):
                    figures["peak_rss_mib"] = float(line.split()[-1]) / 2**20
        out[executor_id] = figures
    return out


def _spilled(before: dict, after: dict, name: str) -> float:
    """What the executors spilled between two readings; an executor started in between (one
    replacing a lost executor) counts from zero, a lost one's spill after ``before`` is unknown."""
    return sum(f[name] - before.get(e, {}).get(name, 0.0) for e, f in after.items())


def run_jobs(spark, facts_dir: str, dims_path: str, sorted_dir: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """Aggregate, join and sort; per job its time, spill and answer (checked by `check`)."""
    from ember.sql import functions as F

    facts = spark.read.parquet(facts_dir)
    dims = spark.read.parquet(dims_path)
    jobs = {
        "aggregate (GROUP BY k)": lambda: facts.groupBy("k").agg(
            F.sum("x").alias("sx"), F.count("*").alias("n"), F.max("s").alias("ms"),
        ).agg(F.count("*").alias("groups"), F.sum("sx").alias("sx"), F.sum("n").alias("n"),
              F.max("ms").alias("ms")).collect()[0].asDict(),
        "join (dims LEFT JOIN facts ON k)": lambda: dims.join(facts, dims.key == facts.k, "left")
        .agg(F.count("*").alias("n"), F.count("id").alias("matched"),
             F.sum("x").alias("sx")).collect()[0].asDict(),
        "sort (ORDER BY x, id)": lambda: facts.orderBy("x", "id").write.parquet(sorted_dir),
    }
    results = []
    shutil.rmtree(sorted_dir, ignore_errors=True)
    for name, job in jobs.items():
        before = executor_figures(spark)
        t0 = time.perf_counter()
        answer = job()
        seconds = time.perf_counter() - t0
        after = executor_figures(spark)
        results.append({"name": name, "seconds": seconds, "answer": answer,
                        **{k: _spilled(before, after, k) for k in ("spill_bytes", "spill_files")}})
        print(f"{name}: {seconds:.1f}s spilled {results[-1]['spill_bytes'] / 2**20:.0f} MiB",
              flush=True)
    results.append({"peak_rss_mib": [f["peak_rss_mib"] for f in executor_figures(spark).values()]})
    return results


def check(con, name: str, answer, sorted_dir: Path) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
    """Whether a job's answer is DuckDB's, and the figures compared."""
    if name.startswith("aggregate"):
        want = con.execute("SELECT count(*), sum(sx), sum(n), max(ms) FROM (SELECT k, sum(x) "
                           "sx, count(*) n, max(s) ms FROM facts GROUP BY k)").fetchone()
        ok = (answer["groups"], answer["n"], answer["ms"]) == (want[0], want[2], want[3]) \
            and abs(answer["sx"] - want[1]) <= 1e-6 * max(1.0, abs(want[1]))
        return ok, f"groups={answer['groups']} rows={answer['n']} (DuckDB {want[0]} / {want[2]})"
    if name.startswith("join"):
        want = con.execute("SELECT count(*), count(id), sum(x) FROM dims LEFT JOIN facts "
                           "ON facts.k = dims.key").fetchone()
        ok = (answer["n"], answer["matched"]) == (want[0], want[1]) \
            and abs(answer["sx"] - want[2]) <= 1e-6 * max(1.0, abs(want[2]))
        return ok, f"rows={answer['n']} matched={answer['matched']} (DuckDB {want[0]} / {want[1]})"
    files = sorted(str(p) for p in sorted_dir.glob("*.parquet"))
    listing = ", ".join(f"'{f}'" for f in files)
    n, bad, total = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE prev_x > x OR (prev_x IS NOT NULL AND x IS "
        f"NULL) OR (prev_x = x AND prev_id > id)), sum(x) FROM (SELECT x, id, lag(x) OVER w "
        f"prev_x, lag(id) OVER w prev_id FROM read_parquet([{listing}], filename = true, "
        f"file_row_number = true) WINDOW w AS (ORDER BY filename, file_row_number))"
    ).fetchone()
    nulls_first = con.execute(
        f"SELECT count(*) FROM (SELECT x, row_number() OVER (ORDER BY filename, "
        f"file_row_number) r FROM read_parquet([{listing}], filename = true, "
        f"file_row_number = true)) WHERE x IS NULL AND r > (SELECT count(*) FROM facts "
        f"WHERE x IS NULL)").fetchone()[0]
    want_n, want_sum = con.execute("SELECT count(*), sum(x) FROM facts").fetchone()
    ok = n == want_n and bad == 0 and nulls_first == 0 \
        and abs(total - want_sum) <= 1e-6 * max(1.0, abs(want_sum))
    return ok, f"rows={n} out-of-order={bad} (DuckDB rows {want_n})"


def job_conf(args: argparse.Namespace) -> dict[str, str]:
    return {"spark.executor.memory": args.memory,
            "spark.sql.shuffle.partitions": str(args.partitions),
            "spark.sql.adaptive.enabled": "false",
            "spark.sql.autoBroadcastJoinThreshold": "-1"}


def in_process(args: argparse.Namespace, facts_dir: Path, dims_path: Path, sorted_dir: Path,
               ) -> tuple[list[dict], dict]:
    """local[2]: two executor processes of one core each, started by this process."""
    from ember.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("spill-benchmark")
    for key, value in job_conf(args).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        results = run_jobs(spark, str(facts_dir), str(dims_path), str(sorted_dir))
    finally:
        spark.stop()
    return results, {}


# -- on the local cluster -----------------------------------------------------------------------

APP = "spill-benchmark"
IMAGE_HOME = "/opt/ember"  # the image's ember home; the local kubelet maps it to this checkout


def in_image(path: Path) -> str:
    return f"{IMAGE_HOME}/{path.resolve().relative_to(HERE.parent)}"


def application(args: argparse.Namespace, facts_dir: Path, dims_path: Path, sorted_dir: Path,
                report: Path) -> dict:
    return {
        "apiVersion": "ember.dev/v1alpha1", "kind": "SparkApplication",
        "metadata": {"name": APP, "namespace": "default"},
        "spec": {
            "type": "Python", "mode": "cluster", "image": "ghcr.io/ember-dev/ember:0.1.0",
            "mainApplicationFile": f"local://{IMAGE_HOME}/benchmarks/spill.py",
            "arguments": ["--report", in_image(report), "--facts", in_image(facts_dir),
                          "--dims", in_image(dims_path), "--sorted", in_image(sorted_dir)],
            "sparkConf": {k: v for k, v in job_conf(args).items()
                          if k != "spark.executor.memory"},
            "restartPolicy": {"type": "Never"},
            "driver": {"cores": 1, "memory": "1g"},
            "executor": {"instances": 2, "cores": 1, "memory": args.memory},
        },
    }


def on_local_cluster(args: argparse.Namespace, facts_dir: Path, dims_path: Path,
                     sorted_dir: Path) -> tuple[list[dict], dict]:
    """The jobs as a SparkApplication on ember local-cluster; pod memory limits enforced."""
    import kubernetes

    from ember.k8s import crd, names
    from ember.localkube import cgroups, cluster
    from ember.operator.process import OperatorProcess

    hierarchy, reason = cgroups.probe()
    work = Path(tempfile.mkdtemp(prefix="ember-spill-"))
    report = HERE / "data" / "spill" / "report.json"
    report.unlink(missing_ok=True)
    local = cluster.start(work_dir=work)
    operator = None
    pods: dict[str, dict] = {}
    try:
        api = kubernetes.config.new_client_from_config(config_file=str(local.kubeconfig))
        kubernetes.client.ApiextensionsV1Api(api).create_custom_resource_definition(crd.crd())
        operator = OperatorProcess(local.kubeconfig, work / "operator.log")
        custom, core = kubernetes.client.CustomObjectsApi(api), kubernetes.client.CoreV1Api(api)
        custom.create_namespaced_custom_object(
            names.GROUP, names.VERSION, "default", names.PLURAL,
            application(args, facts_dir, dims_path, sorted_dir, report))
        watcher = threading.Thread(target=_watch_pods, args=(core, pods), daemon=True)
        watcher.start()
        state: dict = {}
        while state.get("state") not in {"COMPLETED", "FAILED", "SUBMISSION_FAILED"}:
            time.sleep(1.0)
            app = custom.get_namespaced_custom_object(names.GROUP, names.VERSION, "default",
                                                      names.PLURAL, APP)
            state = (app.get("status") or {}).get("applicationState") or {}
        for name, seen in list(pods.items()):
            peak = local.kubelet.peak_memory("default", name)
            if peak is not None:
                seen["peak_mib"] = peak / 2**20
        if state["state"] != "COMPLETED":
            log = local.kubelet.log_text("default", names.driver_pod_name(APP))
            msg = f"{APP} ended {state['state']}: {state.get('errorMessage')}\n{log[-3000:]}"
            raise SystemExit(msg)
        results = json.loads(report.read_text())
    finally:
        if operator is not None:
            operator.stop()
        local.stop()
        shutil.rmtree(work, ignore_errors=True)
        report.unlink(missing_ok=True)
    limits = "enforced (" + reason + ")" if hierarchy is not None else f"NOT enforced: {reason}"
    return results, {"pods": pods, "limits": limits}


def _watch_pods(core, pods: dict[str, dict]) -> None:  # type: ignore[no-untyped-def]
    """Record the role and how it ended of every pod of the application, as the API tells it
    (a lost executor's pod is deleted by the driver right after it ends: a watch sees it)."""
    import kubernetes

    from ember.k8s import names

    selector = f"{names.LABEL_APP_NAME}={APP}"
    stream = kubernetes.watch.Watch().stream(core.list_namespaced_pod, "default",
                                             label_selector=selector)
    try:
        for event in stream:
            pod = event["object"]
            role = pod.metadata.labels.get(names.LABEL_ROLE)
            seen = pods.setdefault(pod.metadata.name, {"role": role})
            for status in pod.status.container_statuses or []:
                if status.state and status.state.terminated:
                    seen["reason"] = status.state.terminated.reason
                    seen["exit_code"] = status.state.terminated.exit_code
    except Exception:  # noqa: BLE001 - the cluster is stopped under the watch at the end
        return


def in_driver(args: argparse.Namespace) -> None:
    """The program of the driver pod: run the jobs, write their results to ``--report``."""
    from ember.sql import SparkSession

    spark = SparkSession.builder.appName(APP).getOrCreate()
    try:
        results = run_jobs(spark, args.facts, args.dims, args.sorted)
    finally:
        spark.stop()
    Path(args.report).write_text(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--memory", default="512m")
    parser.add_argument("--local-cluster", action="store_true",
                        help="run the jobs as a SparkApplication on ember local-cluster")
    # The driver pod's arguments (set by --local-cluster).
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--facts", help=argparse.SUPPRESS)
    parser.add_argument("--dims", help=argparse.SUPPRESS)
    parser.add_argument("--sorted", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.report:
        in_driver(args)
        return

    data = HERE / "data" / "spill"
    started = time.perf_counter()
    facts_dir, dims_path, rows = generate(data, args.gb)
    gen_s = time.perf_counter() - started
    sorted_dir = data / "sorted"
    in_memory = pq.read_table(facts_dir / "part-00000.parquet")
    arrow_bytes = int(in_memory.nbytes * rows / max(1, in_memory.num_rows))
    del in_memory
    run = on_local_cluster if args.local_cluster else in_process
    try:
        results, cluster_info = run(args, facts_dir, dims_path, sorted_dir)
        con = duckdb.connect()
        con.execute("SET threads = 2")
        con.execute(f"CREATE VIEW facts AS SELECT * FROM read_parquet('{facts_dir}/*.parquet')")
        con.execute(f"CREATE VIEW dims AS SELECT * FROM read_parquet('{dims_path}')")
        rss = results.pop()["peak_rss_mib"]
        for r in results:
            r["ok"], r["detail"] = check(con, r["name"], r["answer"], sorted_dir)
            print(f"{r['name']}: ok={r['ok']} {r['detail']}", flush=True)
    finally:
        shutil.rmtree(sorted_dir, ignore_errors=True)
    write_results(args, rows, arrow_bytes, gen_s, results, rss, cluster_info)


def write_results(args, rows: int, arrow_bytes: int, gen_s: float,  # type: ignore[no-untyped-def]
                  results: list[dict], rss: list[float], cluster_info: dict) -> None:
    date = dt.date.today().isoformat()
    where = "-local-cluster" if args.local_cluster else ""
    path = HERE / "results" / f"spill-{date}{where}.md"
    setting = ("a SparkApplication on ember local-cluster: two executor pods of one core"
               if args.local_cluster else "ember local[2] (two executors of one core)")
    lines = [
        f"# Spill: {args.memory} executors aggregate, join and sort {args.gb:g} GB, {date}",
        "",
        f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}. "
        f"{setting}, spark.executor.memory={args.memory}, "
        f"spark.sql.shuffle.partitions={args.partitions}, adaptive execution off, broadcast "
        "joins off. Answers checked against DuckDB on the same Parquet files.",
        "",
        f"Table: {rows:,} rows, {arrow_bytes / 2**30:.2f} GiB in Arrow "
        f"(generated in {gen_s:.0f}s, or reused).",
        "",
        "| job | seconds | spilled (MiB) | spill files | answer | check |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['name']} | {r['seconds']:.1f} | {r['spill_bytes'] / 2**20:.0f} | "
                     f"{r['spill_files']:.0f} | {'✓' if r['ok'] else '✗'} | {r['detail']} |")
    if rss:
        lines += ["", "Peak RSS of the executor processes (MiB): "
                  + ", ".join(f"{v:.0f}" for v in rss) + "."]
    if cluster_info:
        lines += ["", f"Pod memory limits: {cluster_info['limits']}. A cgroup's peak usage counts "
                  "the page cache of the files its pod wrote (shuffle and spill files), which the "
                  "kernel reclaims before it kills anything, so it reaches the limit without an "
                  "OOM kill.", "",
                  "| pod | role | ended | peak usage of its cgroup (MiB) |", "|---|---|---|---|"]
        for name, seen in sorted(cluster_info["pods"].items()):
            ended = seen.get("reason") or "deleted while running"
            if seen.get("exit_code") is not None:
                ended += f" (exit code {seen['exit_code']})"
            if seen.get("exit_code") == 143 and seen.get("role") == "executor":
                ended += ", stopped by the driver at the end"
            peak = seen.get("peak_mib")
            lines.append(f"| {name} | {seen.get('role')} | {ended} | "
                         f"{'–' if peak is None else f'{peak:.0f}'} |")
    flag = " --local-cluster" if args.local_cluster else ""
    lines += ["", f"Command: `python benchmarks/spill.py --gb {args.gb:g} "
              f"--partitions {args.partitions} --memory {args.memory}{flag}`", ""]
    path.write_text("\n".join(lines))
    print(f"wrote {path}")
    oom = [n for n, seen in cluster_info.get("pods", {}).items() if seen.get("reason") == "OOMKilled"]
    if not all(r["ok"] for r in results) or oom:
        sys.exit(1)


if __name__ == "__main__":
    main()
