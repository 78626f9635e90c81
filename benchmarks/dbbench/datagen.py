"""Data for the db-benchmark groupby and join questions, generated with numpy.

Follows the published data definitions of the database-like ops benchmark (h2oai db-benchmark,
now maintained by DuckDB Labs: ``groupby-datagen.R`` and ``join-datagen.R``), reimplemented here
from their description rather than ported. Only the "no NAs, unsorted" variants are produced.

Groupby table ``G1_<N>_<K>`` (N rows):
  id1, id2  strings id001..id{K}, uniform
  id3       strings id0000000001.. with N/K distinct values, uniform
  id4, id5  ints 1..K;  id6 ints 1..N/K
  v1 int 1..5;  v2 int 1..15;  v3 uniform double in [0, 100) rounded to 6 places

Join tables ``J1_<N>_{x,small,medium,big}``: three key pools of sizes n1 = N/1e6, n2 = N/1e3
and n3 = N. Each pool holds 1.1*n distinct keys, shuffled and split into *shared* (0.9 n),
*left-only* (0.1 n) and *right-only* (0.1 n).
  x       N rows:   id1 <- shared+left of pool 1 (with replacement), id2 <- pool 2 likewise,
                    id3 <- shared+left of pool 3 (a permutation, each key once),
                    id4/id5/id6 the same keys as strings "id<k>", v1 uniform [0,100) rounded 6
  small   n1 rows:  id1 <- shared+right of pool 1 (without replacement), id4, v2
  medium  n2 rows:  id1 <- pool 1 shared+right (with replacement), id2 <- pool 2 (without), id4,
                    id5, v2
  big     N rows:   id1, id2 with replacement, id3 <- pool 3 shared+right (a permutation),
                    id4..id6, v2

Deviation: db-benchmark only runs N >= 1e7, where n1 = 10. Smaller N would give a pool of less
than one key, so every pool size is clamped to at least 10 (``small`` has 10 rows at N=1e6).
db-benchmark's files are CSV; these are Parquet with row groups of 128Ki rows.
The random stream is numpy's, so the values differ from the R-generated files; the shapes and
distributions are the same.

Run: python -m benchmarks.dbbench.datagen --n 1e6 [--k 100]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
MIN_POOL = 10
ROW_GROUP_ROWS = 1 << 17
# db-benchmark's data comes from R, whose integers are 32-bit (Spark reads them as IntegerType).
INT = np.int32


def _labels(fmt: str, values: np.ndarray) -> pa.Array:
    """Format the distinct values once, then gather: far cheaper than formatting N strings."""
    uniq, inverse = np.unique(values, return_inverse=True)
    pool = pa.array([fmt % v for v in uniq.tolist()], pa.string())
    return pool.take(pa.array(inverse.astype(np.int64)))


def groupby_table(n: int, k: int, *, seed: int = 108) -> pa.Table:
    rng = np.random.default_rng(seed)
    n_id3 = max(n // k, 1)
    id1 = rng.integers(1, k + 1, n)
    id2 = rng.integers(1, k + 1, n)
    id3 = rng.integers(1, n_id3 + 1, n)
    return pa.table({
        "id1": _labels("id%03d", id1),
        "id2": _labels("id%03d", id2),
        "id3": _labels("id%010d", id3),
        "id4": rng.integers(1, k + 1, n, dtype=np.int64).astype(INT),
        "id5": rng.integers(1, k + 1, n, dtype=np.int64).astype(INT),
        "id6": rng.integers(1, n_id3 + 1, n, dtype=np.int64).astype(INT),
        "v1": rng.integers(1, 6, n, dtype=np.int64).astype(INT),
        "v2": rng.integers(1, 16, n, dtype=np.int64).astype(INT),
        "v3": np.round(rng.uniform(0, 100, n), 6),
    })


def key_pools(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """1.1*n distinct keys, shuffled: 90% shared, 10% left-only, 10% right-only."""
    n = max(int(n), MIN_POOL)
    keys = rng.permutation(np.arange(1, int(n * 1.1) + 1, dtype=np.int64))
    shared = int(n * 0.9)
    return {"shared": keys[:shared], "left": keys[shared:n], "right": keys[n:]}


def join_tables(n: int, *, seed: int = 108) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    pools = [key_pools(n / 1e6, rng), key_pools(n / 1e3, rng), key_pools(n, rng)]
    lhs = [np.concatenate([p["shared"], p["left"]]) for p in pools]
    rhs = [np.concatenate([p["shared"], p["right"]]) for p in pools]

    def with_labels(ids: dict[str, np.ndarray]) -> dict[str, pa.Array]:
        cols: dict[str, pa.Array] = {name: pa.array(v.astype(INT)) for name, v in ids.items()}
        for i, name in enumerate(ids, start=4):
            cols[f"id{i}"] = _labels("id%d", ids[name])
        return cols

    def measure(rows: int) -> np.ndarray:
        return np.round(rng.uniform(0, 100, rows), 6)

    x = with_labels({"id1": rng.choice(lhs[0], n), "id2": rng.choice(lhs[1], n),
                     "id3": rng.permutation(lhs[2])[:n]})
    x["v1"] = pa.array(measure(n))
    n_small, n_medium = max(int(n / 1e6), MIN_POOL), max(int(n / 1e3), MIN_POOL)
    small = with_labels({"id1": rng.permutation(rhs[0])[:n_small]})
    small["v2"] = pa.array(measure(n_small))
    medium = with_labels({"id1": rng.choice(rhs[0], n_medium),
                          "id2": rng.permutation(rhs[1])[:n_medium]})
    medium["v2"] = pa.array(measure(n_medium))
    big = with_labels({"id1": rng.choice(rhs[0], n), "id2": rng.choice(rhs[1], n),
                       "id3": rng.permutation(rhs[2])[:n]})
    big["v2"] = pa.array(measure(n))
    return {name: pa.table(cols) for name, cols in
            (("x", x), ("small", small), ("medium", medium), ("big", big))}


def size_label(n: int) -> str:
    """1e6 for 1_000_000, as db-benchmark names its files."""
    exp = len(str(n)) - 1
    return f"1e{exp}" if n == 10 ** exp else str(n)


def paths(n: int, k: int, *, data_dir: Path = DATA_DIR) -> dict[str, Path]:
    label = size_label(n)
    out = {"groupby": data_dir / f"G1_{label}_{k}_0_0.parquet"}
    for name in ("x", "small", "medium", "big"):
        out[name] = data_dir / f"J1_{label}_NA_0_0_{name}.parquet"
    return out


def _current(path: Path, int_column: str) -> bool:
    """Whether ``path`` exists and was written by this generator (its integers are 32-bit)."""
    return path.exists() and pq.read_schema(path).field(int_column).type == pa.from_numpy_dtype(INT)


def ensure(n: int, k: int, *, data_dir: Path = DATA_DIR) -> dict[str, Path]:
    """Generate any missing or outdated file once; later runs reuse the cached Parquet."""
    files = paths(n, k, data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not _current(files["groupby"], "id4"):
        _write(groupby_table(n, k), files["groupby"])
    if not all(_current(files[name], "id1") for name in ("x", "small", "medium", "big")):
        for name, table in join_tables(n).items():
            _write(table, files[name])
    return files


def _write(table: pa.Table, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    # Row groups of 128Ki rows, so engines that split Parquet by row group can use both cores
    # even at N=1e6 (pyarrow's default, 1Mi rows, makes that whole table one row group).
    pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS)
    tmp.replace(path)  # a crash mid-write never leaves a half file that looks cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=float, default=1e6)
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    for name, path in ensure(int(args.n), args.k).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
