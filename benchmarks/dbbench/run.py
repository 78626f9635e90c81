"""db-benchmark groupby and join, ember side by side with DuckDB, Polars and PySpark.

The questions and data follow the database-like ops benchmark (h2oai db-benchmark, now
maintained by DuckDB Labs); see ``datagen.py`` and ``questions.py``. Each engine runs in its own
worker process (``worker.py``) with 2 cores' worth of parallelism: ember local[2], PySpark
local[2] (AQE on, few shuffle partitions), DuckDB and Polars with 2 threads. Data is loaded
before timing; the timed part is the answer materialised in the engine, as db-benchmark does
(see ``questions.py``). Each question runs twice per engine, engines alternating, and both times are
recorded. Every answer is checked against DuckDB's (same row count, each measure's sum within
0.5%); a mismatch or an error is recorded in the table and does not stop the run.

Also measured: session start-up (import to first result), per-job overhead (a filtered q1 on
the loaded table, median of 20) and peak RSS of each worker and of its child processes.

Run: python benchmarks/dbbench/run.py --n 1e6 [--k 100] [--pyspark-python PATH]
Results: benchmarks/results/<date>-<host>-dbbench-<N>.{md,csv,png}
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import platform
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dbbench import datagen, questions  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results"
REQUEST_TIMEOUT = 900.0


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@dataclass
class Worker:
    """The runner's handle on one engine's worker process."""

    name: str
    python: str
    proc: subprocess.Popen[str] | None = None
    replies: queue.Queue[str] = field(default_factory=queue.Queue)
    failed: str | None = None
    startup: float | None = None
    version: str = ""
    peak_driver_kib: int = 0
    peak_children_kib: int = 0

    def start(self) -> None:
        env = dict(os.environ, POLARS_MAX_THREADS="2")
        self.proc = subprocess.Popen([self.python, str(HERE / "worker.py"), self.name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env)
        threading.Thread(target=self._pump, daemon=True).start()
        reply = self._next(timeout=300)
        if "error" in reply:
            self.failed = reply["error"]
        else:
            self.startup, self.version = reply["startup"], reply.get("version", "")

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.replies.put(line)
        self.replies.put("")  # the worker is gone

    def _next(self, *, timeout: float) -> dict[str, Any]:
        try:
            line = self.replies.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            return {"error": f"no reply within {timeout:.0f} s; worker stopped"}
        if not line:
            self.failed = self.failed or "worker exited"
            return {"error": self.failed}
        return json.loads(line)

    def request(self, cmd: dict[str, Any]) -> dict[str, Any]:
        if self.failed or self.proc is None or self.proc.stdin is None:
            return {"error": self.failed or "not started"}
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            self.failed = f"worker gone: {exc}"
            return {"error": self.failed}
        reply = self._next(timeout=REQUEST_TIMEOUT)
        self.sample_memory()
        return reply

    def sample_memory(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.peak_driver_kib = max(self.peak_driver_kib, _hwm_kib(self.proc.pid))
        kids = sum(_hwm_kib(pid) for pid in _descendants(self.proc.pid))
        self.peak_children_kib = max(self.peak_children_kib, kids)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None and not self.failed:
            self.request({"cmd": "close"})
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.failed = self.failed or "stopped"


def run(args: argparse.Namespace) -> tuple[list[Worker], dict[str, dict[str, Any]], dict]:
    n = int(args.n)
    load_before = os.getloadavg()
    files = datagen.ensure(n, args.k)
    engines = [("ember", sys.executable), ("duckdb", sys.executable), ("polars", sys.executable)]
    if args.pyspark_python:
        engines.insert(1, ("pyspark", args.pyspark_python))
    workers = []
    skipped: dict[str, str] = {}
    for name, python in engines:
        w = Worker(name, python)
        print(f"starting {name} ...", flush=True)
        w.start()
        if w.failed is None:
            reply = w.request({"cmd": "load", "files": {k: str(v) for k, v in files.items()}})
            if "error" in reply:
                w.failed = f"load failed: {reply['error']}"
        if w.failed is not None:
            skipped[name] = w.failed
            print(f"  {name} skipped: {w.failed}", flush=True)
            w.stop()
            continue
        print(f"  {name} {w.version} ready in {w.startup:.2f} s", flush=True)
        workers.append(w)
    if not any(w.name == "duckdb" for w in workers):
        msg = "duckdb, the reference for correctness, did not start\n\ninstall duckdb"
        raise SystemExit(msg)

    results: dict[str, dict[str, Any]] = {}
    for i, q in enumerate(questions.QUESTIONS):
        if args.only and q.id not in args.only:
            continue
        order = workers[i % len(workers):] + workers[:i % len(workers)]
        row: dict[str, Any] = {}
        for _ in (1, 2):
            for w in order:  # alternate so that drift hits every engine alike
                reply = w.request({"cmd": "run", "qid": q.id})
                row.setdefault(w.name, []).append(reply)
        results[q.id] = row
        print(f"{q.id:12} " + "  ".join(f"{name} {_fmt_times(r)}" for name, r in row.items()),
              flush=True)

    overhead = {}
    for w in workers:
        reply = w.request({"cmd": "tiny", "repeat": 20})
        overhead[w.name] = reply.get("median")
    for w in workers:
        w.sample_memory()
        w.stop()
    return workers, results, {"overhead": overhead, "skipped": skipped, "load_before": load_before}


def _fmt_times(replies: list[dict[str, Any]]) -> str:
    return "/".join(f"{r['seconds']:.3f}" if "seconds" in r else "ERR" for r in replies)


def verdict(replies: list[dict[str, Any]], reference: list[dict[str, Any]]) -> str:
    """'ok', 'WRONG (...)' or 'ERROR (...)' for an engine's answers to one question."""
    for r in replies:
        if "error" in r:
            return f"ERROR ({r['error']})"
    ref = next((r for r in reference if "error" not in r), None)
    if ref is None:
        return "no reference"
    want = questions.Answer(0.0, ref["out_rows"], tuple(ref["chk"]))
    for r in replies:
        got = questions.Answer(r["seconds"], r["out_rows"], tuple(r["chk"]))
        if not questions.matches(got, want):
            return f"WRONG (rows {got.out_rows} vs {want.out_rows}, chk {list(got.chk)} vs {list(want.chk)})"
    return "ok"


def _loads(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.2f}" for v in load)


def _second(replies: list[dict[str, Any]]) -> float | None:
    return replies[-1].get("seconds") if replies else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _geomean(values: list[float]) -> float | None:
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def write_results(args: argparse.Namespace, workers: list[Worker],
                  results: dict[str, dict[str, Any]], extra: dict) -> Path:
    n = int(args.n)
    names = [w.name for w in workers]
    host = platform.node() or "host"
    today = dt.date.today().isoformat()
    stem = RESULTS / f"{today}-{host}-dbbench-{datagen.size_label(n)}"
    RESULTS.mkdir(exist_ok=True)

    header = ["question", "title"]
    for name in names:
        header += [f"{name}_run1", f"{name}_run2", f"{name}_correct"]
    header += ["ember/pyspark", "ember/duckdb"]
    rows, failures = [], []
    for qid, row in results.items():
        record: dict[str, Any] = {"question": qid, "title": questions.BY_ID[qid].title}
        for name in names:
            replies = row.get(name, [])
            for i in (1, 2):
                r = replies[i - 1] if len(replies) >= i else {}
                record[f"{name}_run{i}"] = r.get("seconds")
            record[f"{name}_correct"] = ("reference" if name == "duckdb"
                                         else verdict(replies, row["duckdb"]))
            if record[f"{name}_correct"] not in ("ok", "reference"):
                failures.append(f"{qid} {name}: {record[f'{name}_correct']}")
        ember2 = _second(row.get("ember", []))
        record["ember/pyspark"] = _ratio(ember2, _second(row.get("pyspark", [])))
        record["ember/duckdb"] = _ratio(ember2, _second(row.get("duckdb", [])))
        rows.append(record)

    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)

    def cell(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.3f}" if v < 10 else f"{v:.1f}"
        return "✓" if v in ("ok", "reference") else str(v).split(" (")[0]

    before, after = extra["load_before"], os.getloadavg()
    cpu = platform.processor() or platform.machine()
    versions = ", ".join(f"{w.name} {w.version}" for w in workers)
    lines = [f"# db-benchmark groupby and join, N={datagen.size_label(n)}, K={args.k}, "
             f"{today} on {host}", "",
             f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}; {versions}.",
             "ember and PySpark in local[2], DuckDB and Polars with 2 threads. Seconds; each "
             "question ran twice per engine, engines alternating. Ratios use the second run.",
             f"Load average (1, 5, 15 min) before the run: {_loads(before)}; after: "
             f"{_loads(after)}"
             + (" — other processes were running on the machine during the run, so expect "
                "noise." if before[0] > 0.5 else "."), ""]
    md_header = ["question"] + [f"{name} 1st / 2nd" for name in names] + \
                ["ember/PySpark", "ember/DuckDB"] + [f"{name} ok" for name in names if name != "duckdb"]
    lines += ["| " + " | ".join(md_header) + " |", "|" + "---|" * len(md_header)]
    for r in rows:
        cells = [f"{r['question']} ({r['title']})"]
        cells += [f"{cell(r[f'{name}_run1'])} / {cell(r[f'{name}_run2'])}" for name in names]
        cells += [cell(r["ember/pyspark"]), cell(r["ember/duckdb"])]
        cells += [cell(r[f"{name}_correct"]) for name in names if name != "duckdb"]
        lines.append("| " + " | ".join(cells) + " |")
    geo_p = _geomean([r["ember/pyspark"] for r in rows if r["ember/pyspark"]])
    geo_d = _geomean([r["ember/duckdb"] for r in rows if r["ember/duckdb"]])
    lines += ["", "Geometric mean, second runs: "
              + (f"ember/PySpark {geo_p:.2f}" if geo_p else "ember/PySpark –")
              + (f", ember/DuckDB {geo_d:.2f}" if geo_d else ""), ""]
    lines += ["| engine | session start (s) | per-job overhead, median of 20 (ms) | "
              "peak RSS worker (MiB) | peak RSS child processes (MiB) |", "|---|---|---|---|---|"]
    for w in workers:
        ov = extra["overhead"].get(w.name)
        lines.append(f"| {w.name} | {cell(w.startup)} | "
                     f"{f'{ov * 1000:.1f}' if ov is not None else '–'} | "
                     f"{w.peak_driver_kib / 1024:.0f} | {w.peak_children_kib / 1024:.0f} |")
    lines += ["", "Session start: import to the first result of a one-row count. Per-job "
              "overhead: q1 filtered to `id6 == 1` on the loaded table. Child processes are "
              "ember's executors and, for PySpark, the JVM.", "",
              "ember and PySpark cache the tables (df.cache()) before timing, DuckDB and "
              "Polars hold them in memory. Timed, as in db-benchmark: the answer materialised "
              "in the engine (ember and PySpark persist(MEMORY_ONLY) + count(), DuckDB "
              "CREATE TABLE AS, Polars collect()); the checksum query after it is not "
              "timed.", ""]
    for name, reason in extra["skipped"].items():
        lines.append(f"- {name} skipped: {reason}")
    if failures:
        lines += ["", "## Failures", ""] + [f"- {f}" for f in failures]
    command = f"python benchmarks/dbbench/run.py --n {datagen.size_label(n)} --k {args.k}"
    if args.pyspark_python:
        command += " --pyspark-python PYTHON_WITH_PYSPARK"
    lines += ["", f"Command: `{command}`", ""]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    _plot(stem.with_suffix(".png"), names, rows, n)
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return stem


def _plot(path: Path, names: list[str], rows: list[dict[str, Any]], n: int) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed; no chart (pip install -e '.[bench]')")
        return
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [r[f"{name}_run2"] or 0.0 for r in rows]
        xs = [j + i * width for j in range(len(rows))]
        ax.bar(xs, values, width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))])
    ax.set_xticklabels([r["question"].replace("groupby ", "g").replace("join ", "j")
                        for r in rows])
    ax.set_yscale("log")
    ax.set_ylabel("seconds, second run (log scale)")
    ax.set_title(f"db-benchmark groupby (g) and join (j), N={datagen.size_label(n)}, 2 cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=float, default=1e6)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--pyspark-python", default=None,
                        help="a Python with pyspark installed; PySpark is skipped without it")
    parser.add_argument("--only", nargs="*", default=None, help="question ids, e.g. 'join q5'")
    args = parser.parse_args()
    workers, results, extra = run(args)
    if not args.pyspark_python:
        extra["skipped"]["pyspark"] = "no --pyspark-python given"
    stem = write_results(args, workers, results, extra)
    print(f"written to {stem}.md, .csv" + (", .png" if stem.with_suffix('.png').exists() else ""))


if __name__ == "__main__":
    main()
