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

Run: python benchmarks/spill.py [--gb 2] [--partitions 8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
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


def executor_figures(spark) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Spill bytes and files summed over the executors' /metrics."""
    totals = {"spill_bytes": 0.0, "spill_files": 0.0}
    for executor in spark._runtime().executors.values():
        with urllib.request.urlopen(f"{executor.address}/metrics", timeout=10) as resp:
            for line in resp.read().decode().splitlines():
                for name in totals:
                    if line.startswith(f"ember_executor_{name}_total"):
                        totals[name] += float(line.split()[-1])
    return totals


def peak_rss_mib(pids: list[int]) -> list[float]:
    out = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                out.append(int(line.split()[1]) / 1024)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--memory", default="512m")
    args = parser.parse_args()

    from ember.sql import SparkSession
    from ember.sql import functions as F

    data = HERE / "data" / "spill"
    started = time.perf_counter()
    facts_dir, dims_path, rows = generate(data, args.gb)
    gen_s = time.perf_counter() - started
    facts_glob = str(facts_dir / "*.parquet")
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(f"CREATE VIEW facts AS SELECT * FROM read_parquet('{facts_glob}')")
    con.execute(f"CREATE VIEW dims AS SELECT * FROM read_parquet('{dims_path}')")
    in_memory = pq.read_table(facts_dir / "part-00000.parquet")
    arrow_bytes = int(in_memory.nbytes * rows / max(1, in_memory.num_rows))
    del in_memory

    spark = (SparkSession.builder.master("local[2]").appName("spill-benchmark")
             .config("spark.executor.memory", args.memory)
             .config("spark.sql.shuffle.partitions", args.partitions)
             .config("spark.sql.adaptive.enabled", "false")
             .config("spark.sql.autoBroadcastJoinThreshold", "-1")
             .getOrCreate())
    facts = spark.read.parquet(str(facts_dir))
    dims = spark.read.parquet(str(dims_path))
    results = []

    def run(name: str, job, check) -> None:  # type: ignore[no-untyped-def]
        before = executor_figures(spark)
        t0 = time.perf_counter()
        answer = job()
        seconds = time.perf_counter() - t0
        after = executor_figures(spark)
        ok, detail = check(answer)
        results.append({"name": name, "seconds": seconds, "ok": ok, "detail": detail,
                        **{k: after[k] - before[k] for k in after}})
        print(f"{name}: {seconds:.1f}s ok={ok} spill={after['spill_bytes'] - before['spill_bytes']:.0f}"
              f" bytes {detail}", flush=True)

    def aggregate():  # type: ignore[no-untyped-def]
        grouped = facts.groupBy("k").agg(F.sum("x").alias("sx"), F.count("*").alias("n"),
                                         F.max("s").alias("ms"))
        return grouped.agg(F.count("*").alias("groups"), F.sum("sx").alias("sx"),
                           F.sum("n").alias("n"), F.max("ms").alias("ms")).collect()[0]

    def check_aggregate(row):  # type: ignore[no-untyped-def]
        want = con.execute("SELECT count(*), sum(sx), sum(n), max(ms) FROM (SELECT k, sum(x) "
                           "sx, count(*) n, max(s) ms FROM facts GROUP BY k)").fetchone()
        ok = (row["groups"], row["n"], row["ms"]) == (want[0], want[2], want[3]) \
            and abs(row["sx"] - want[1]) <= 1e-6 * max(1.0, abs(want[1]))
        return ok, f"groups={row['groups']} rows={row['n']} (DuckDB {want[0]} / {want[2]})"

    def join():  # type: ignore[no-untyped-def]
        joined = dims.join(facts, dims.key == facts.k, "left")
        return joined.agg(F.count("*").alias("n"), F.count("id").alias("matched"),
                          F.sum("x").alias("sx")).collect()[0]

    def check_join(row):  # type: ignore[no-untyped-def]
        want = con.execute("SELECT count(*), count(id), sum(x) FROM dims LEFT JOIN facts "
                           "ON facts.k = dims.key").fetchone()
        ok = (row["n"], row["matched"]) == (want[0], want[1]) \
            and abs(row["sx"] - want[2]) <= 1e-6 * max(1.0, abs(want[2]))
        return ok, f"rows={row['n']} matched={row['matched']} (DuckDB {want[0]} / {want[1]})"

    out = data / "sorted"

    def sort():  # type: ignore[no-untyped-def]
        shutil.rmtree(out, ignore_errors=True)
        facts.orderBy("x", "id").write.parquet(str(out))
        return out

    def check_sort(path: Path):  # type: ignore[no-untyped-def]
        files = sorted(str(p) for p in path.glob("*.parquet"))
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

    try:
        run("aggregate (GROUP BY k)", aggregate, check_aggregate)
        run("join (dims LEFT JOIN facts ON k)", join, check_join)
        run("sort (ORDER BY x, id)", sort, check_sort)
        rss = peak_rss_mib(list(spark._runtime().executor_pids().values()))
    finally:
        spark.stop()
        shutil.rmtree(out, ignore_errors=True)
    write_results(args, rows, arrow_bytes, gen_s, results, rss)


def write_results(args, rows: int, arrow_bytes: int, gen_s: float,  # type: ignore[no-untyped-def]
                  results: list[dict], rss: list[float]) -> None:
    date = dt.date.today().isoformat()
    path = HERE / "results" / f"spill-{date}.md"
    lines = [
        f"# Spill: {args.memory} executors aggregate, join and sort {args.gb:g} GB, {date}",
        "",
        f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}. "
        f"ember local[2] (two executors of one core), spark.executor.memory={args.memory}, "
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
    lines += ["", f"Command: `python benchmarks/spill.py --gb {args.gb:g} "
              f"--partitions {args.partitions} --memory {args.memory}`", ""]
    path.write_text("\n".join(lines))
    print(f"wrote {path}")
    if not all(r["ok"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
