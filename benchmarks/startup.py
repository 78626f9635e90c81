"""Session start-up: time until a new session has answered its first query.

Each trial is a fresh interpreter, timed from just before ``import`` to the first result of
``spark.range(10).count()``. PySpark local mode is measured in the same run when a Python with
``pyspark`` is given (``--pyspark-python``), e.g. a throwaway venv with ``pip install pyspark``.

Run: python benchmarks/startup.py [--trials 5] [--pyspark-python PATH]
Results: benchmarks/results/startup-<date>-<host>.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, time
t0 = time.perf_counter()
from {module} import SparkSession
spark = SparkSession.builder.master("local[2]").getOrCreate()
t1 = time.perf_counter()
n = spark.range(10).count()
t2 = time.perf_counter()
spark.range(1000).count()
t3 = time.perf_counter()
assert n == 10
print(json.dumps({{"session": t1 - t0, "first_result": t2 - t0, "second_query": t3 - t2}}))
spark.stop()
"""


def trial(python: str, module: str) -> dict[str, float]:
    code = PROBE.format(module=module)
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True,
                         timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--pyspark-python", default=None)
    args = parser.parse_args()
    engines = [("ember", sys.executable, "ember.sql")]
    if args.pyspark_python:
        engines.append(("pyspark", args.pyspark_python, "pyspark.sql"))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in engines}
    for _ in range(args.trials):
        for name, python, module in engines:  # alternate, so drift hits both alike
            runs[name].append(trial(python, module))
    medians = {name: summarise(r) for name, r in runs.items()}
    host = platform.node() or "host"
    today = dt.date.today().isoformat()
    lines = [f"# Session start-up, {today} on {host}", "",
             f"{args.trials} trials each, medians, local[2], {platform.processor() or platform.machine()}"
             f", Python {platform.python_version()}", "",
             "| engine | session ready (s) | first result (s) | next query (s) |",
             "|---|---|---|---|"]
    for name, m in medians.items():
        lines.append(f"| {name} | {m['session']:.2f} | {m['first_result']:.2f} | "
                     f"{m['second_query']:.3f} |")
    if "pyspark" in medians:
        ratio = medians["ember"]["first_result"] / medians["pyspark"]["first_result"]
        lines += ["", f"ember/PySpark, time to first result: {ratio:.2f}"]
    command = f"python benchmarks/startup.py --trials {args.trials}"
    if args.pyspark_python:
        command += " --pyspark-python PYTHON_WITH_PYSPARK"
    lines += ["", f"Command: `{command}`", ""]
    out = Path(__file__).parent / "results" / f"startup-{today}-{host}.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
