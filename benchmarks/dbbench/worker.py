"""One engine in its own process, answering the runner's requests as JSON lines.

Every engine runs in a worker so that its memory can be measured on its own process tree, a
crash or hang costs only that engine, and PySpark can use a different Python. Protocol, one JSON
object per line on stdin, one reply per line on stdout:

  (on start)                      -> {"ready": true, "startup": s, "version": v} | {"error": m}
  {"cmd": "load", "files": {...}} -> {"seconds": s}
  {"cmd": "run", "qid": "..."}    -> {"seconds": s, "out_rows": n, "chk": [...]}
  {"cmd": "tiny", "repeat": 20}   -> {"median": s, "all": [...]}
  {"cmd": "close"}                -> {"closed": true}
Any failure of a request is replied as {"error": message}; the worker keeps serving.

Run: python benchmarks/dbbench/worker.py ENGINE   (ember, pyspark, duckdb or polars)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dbbench import questions  # noqa: E402


def make_engine(name: str) -> object:
    if name in ("ember", "pyspark"):
        return questions.SparkAPIEngine(module=name)
    if name == "duckdb":
        return questions.DuckDBEngine(threads=2)
    if name == "polars":
        return questions.PolarsEngine(threads=2)
    msg = f"unknown engine {name!r}\n\nchoose one of ember, pyspark, duckdb, polars"
    raise ValueError(msg)


def serve(name: str, out: object) -> None:
    def reply(obj: dict) -> None:
        out.write(json.dumps(obj) + "\n")  # type: ignore[attr-defined]
        out.flush()  # type: ignore[attr-defined]

    t0 = time.perf_counter()
    try:
        engine = make_engine(name)
    except Exception as exc:  # reported to the runner, which skips this engine
        reply({"error": f"{type(exc).__name__}: {exc}"})
        return
    startup = getattr(engine, "startup", time.perf_counter() - t0)
    reply({"ready": True, "startup": startup, "version": getattr(engine, "version", "")})
    for line in sys.stdin:
        request = json.loads(line)
        try:
            cmd = request["cmd"]
            if cmd == "load":
                t = time.perf_counter()
                engine.load({k: Path(v) for k, v in request["files"].items()})  # type: ignore[attr-defined]
                reply({"seconds": time.perf_counter() - t})
            elif cmd == "run":
                answer = questions.timed(engine, questions.BY_ID[request["qid"]])
                reply({"seconds": answer.seconds, "out_rows": answer.out_rows,
                       "chk": list(answer.chk)})
            elif cmd == "tiny":
                times = []
                for _ in range(int(request.get("repeat", 20))):
                    t = time.perf_counter()
                    engine.tiny()  # type: ignore[attr-defined]
                    times.append(time.perf_counter() - t)
                reply({"median": statistics.median(times), "all": times})
            elif cmd == "close":
                engine.close()  # type: ignore[attr-defined]
                reply({"closed": True})
                return
        except Exception as exc:
            tb = traceback.format_exc(limit=3)
            print(tb, file=sys.stderr)
            reply({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"})


def main() -> None:
    # Keep the protocol channel private: engines and their libraries may print to stdout.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    serve(sys.argv[1], out)


if __name__ == "__main__":
    main()
