"""A py-spy profile of one db-benchmark question in ember, driver and executors together.

The question runs as in ``run.py`` (ember local[2], tables cached, the answer persisted and
counted) ``--runs`` times under ``py-spy record --subprocesses``; the samples are summarised as
the frames with the most samples of their own, and the ember and pyarrow frames with the most
samples under them, counting only samples taken inside executor tasks (``run_task``) for the
second list. The summary goes to
``benchmarks/results/<date>-<host>-dbbench-<N>-profile-<question>.txt``.

Run: python benchmarks/dbbench/profile.py "groupby q10" [--n 1e7] [--k 100] [--runs 2]
(py-spy comes with ``pip install -e '.[bench]'``; reading other processes' stacks may need root.)
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dbbench import datagen, questions  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "results"
TOP = 20
# A frame of py-spy's raw (collapsed) output: "function (file:line)".
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def run_question(qid: str, n: int, k: int, runs: int) -> None:
    """The profiled process: load the tables, then time ``qid`` ``runs`` times."""
    engine = questions.SparkAPIEngine(module="ember")
    engine.load(datagen.ensure(n, k))
    for _ in range(runs):
        answer = questions.timed(engine, questions.BY_ID[qid])
        print(f"{qid}: {answer.seconds:.3f} s, {answer.out_rows} rows", flush=True)
    engine.close()


def short(frame: str) -> str:
    """``func (path:line)`` with the path cut to the package, as in the summaries."""
    match = FRAME.match(frame)
    if match is None:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path}:{match['line']})"


def summarise(raw: str) -> tuple[int, int, list[tuple[int, str]], list[tuple[int, str]]]:
    """(all samples, samples in tasks, top frames by own samples, top ember/pyarrow frames by
    inclusive samples inside tasks) of py-spy's raw output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = in_tasks = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [short(f) for f in stack.split(";")]
        total += samples
        own[frames[-1]] += samples
        if any(f.startswith("run_task ") for f in frames):
            in_tasks += samples
            for frame in set(frames):
                if "ember/" in frame or "pyarrow/" in frame:
                    inclusive[frame] += samples
    def top(counter: collections.Counter[str]) -> list[tuple[int, str]]:
        return [(count, frame) for frame, count in counter.most_common(TOP)]

    return total, in_tasks, top(own), top(inclusive)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("question", choices=[q.id for q in questions.QUESTIONS])
    parser.add_argument("--n", default="1e7")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = int(float(args.n))
    if args.inner:
        run_question(args.question, n, args.k, args.runs)
        return
    beside = Path(sys.executable).parent / "py-spy"
    py_spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if py_spy is None:
        sys.exit("py-spy is not installed\n\ninstall it with pip install -e '.[bench]'")
    with tempfile.TemporaryDirectory(prefix="ember-profile-") as tmp:
        raw_path = Path(tmp) / "raw.txt"
        started = time.perf_counter()
        done = subprocess.run(
            [py_spy, "record", "--subprocesses", "--rate",
             str(args.rate), "--format", "raw", "--output", str(raw_path), "--",
             sys.executable, __file__, args.question, "--n", args.n, "--k", str(args.k),
             "--runs", str(args.runs), "--inner"],
            capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0 or not raw_path.exists():
            sys.exit(f"py-spy failed (exit code {done.returncode}):\n{done.stderr[-2000:]}\n\n"
                     "profiling other processes may need root (or kernel.yama.ptrace_scope=0)")
        total, in_tasks, own, inclusive = summarise(raw_path.read_text())
    timings = [line for line in done.stdout.splitlines() if line.startswith(args.question)]
    date = dt.date.today().isoformat()
    host = platform.node() or "host"
    label = datagen.size_label(n)
    lines = [
        f"{args.question} ({questions.BY_ID[args.question].title}), N={label}, ember local[2], "
        f"{args.runs} runs after loading; {elapsed:.0f} s under the profiler",
        f"py-spy record --subprocesses --rate {args.rate} (driver and executor processes), "
        f"{date} on {host}",
        *timings,
        f"samples: {total} in all, {in_tasks} inside executor tasks (run_task)",
        "",
        "top frames by own samples",
        *(f"{count:>6}  {frame}" for count, frame in own),
        "",
        "top ember/pyarrow frames by inclusive samples, inside executor tasks",
        *(f"{count:>6}  {frame}" for count, frame in inclusive),
        "",
        f"Command: python benchmarks/dbbench/profile.py \"{args.question}\" --n {args.n} "
        f"--runs {args.runs}",
        "",
    ]
    slug = args.question.replace(" ", "-")
    path = RESULTS / f"{date}-{host}-dbbench-{label}-profile-{slug}.txt"
    path.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
