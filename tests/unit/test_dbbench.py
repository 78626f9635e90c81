"""The db-benchmark harness (benchmarks/dbbench): data definitions and ember's answers.

Correctness only, on tiny data; the timings live in benchmarks/results, never in tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from dbbench import datagen, questions  # noqa: E402

N, K = 10_000, 10


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return datagen.ensure(N, K, data_dir=tmp_path_factory.mktemp("dbbench"))


def _distinct(table: pa.Table, column: str) -> int:
    return len(pc.unique(table.column(column)))


def test_groupby_data_follows_the_published_definition(files: dict[str, Path]) -> None:
    x = pq.read_table(files["groupby"])
    assert x.num_rows == N and x.column_names == [
        "id1", "id2", "id3", "id4", "id5", "id6", "v1", "v2", "v3"]
    assert sum(c.null_count for c in x.columns) == 0
    assert x.schema.types == [pa.string()] * 3 + [pa.int32()] * 5 + [pa.float64()]
    for name in ("id1", "id2"):
        assert sorted(pc.unique(x.column(name)).to_pylist()) == [f"id{i:03d}" for i in range(1, K + 1)]
    assert _distinct(x, "id3") == N // K
    assert all(len(s) == 12 for s in pc.unique(x.column("id3")).to_pylist())
    for name, top in (("id4", K), ("id5", K), ("id6", N // K), ("v1", 5), ("v2", 15)):
        values = x.column(name).to_numpy()
        assert values.min() == 1 and values.max() == top, name
    v3 = x.column("v3").to_numpy()
    assert 0 <= v3.min() and v3.max() < 100
    assert np.allclose(v3, np.round(v3, 6))
    # unsorted: the first column is not already in group order
    assert x.column("id1").to_pylist() != sorted(x.column("id1").to_pylist())


def test_outdated_cached_data_is_generated_again(tmp_path: Path) -> None:
    files = datagen.paths(N, K, data_dir=tmp_path)
    old = datagen.groupby_table(N, K)
    old = old.set_column(3, "id4", old.column("id4").cast(pa.int64()))
    pq.write_table(old, files["groupby"])
    datagen.ensure(N, K, data_dir=tmp_path)
    assert pq.read_schema(files["groupby"]).field("id4").type == pa.int32()


def test_key_pools_split_90_shared_10_left_10_right() -> None:
    pools = datagen.key_pools(1000, np.random.default_rng(0))
    sizes = {name: len(keys) for name, keys in pools.items()}
    assert sizes == {"shared": 900, "left": 100, "right": 100}
    every = np.concatenate(list(pools.values()))
    assert len(np.unique(every)) == 1100


def test_join_tables_draw_their_keys_from_the_right_pools(files: dict[str, Path]) -> None:
    t = {name: pq.read_table(files[name]) for name in ("x", "small", "medium", "big")}
    assert {name: table.num_rows for name, table in t.items()} == {
        "x": N, "small": datagen.MIN_POOL, "medium": datagen.MIN_POOL, "big": N}
    assert t["big"].schema.types == [pa.int32()] * 3 + [pa.string()] * 3 + [pa.float64()]
    # id3 is a permutation of its pool on both sides: unique keys, 90% of them shared
    for name in ("x", "big"):
        assert _distinct(t[name], "id3") == N
    shared = set(t["x"].column("id3").to_pylist()) & set(t["big"].column("id3").to_pylist())
    assert len(shared) == int(N * 0.9)
    # the string keys spell the integer keys
    x = t["x"].slice(0, 50)
    assert x.column("id6").to_pylist() == [f"id{k}" for k in x.column("id3").to_pylist()]
    # small rows are distinct keys of pool 1
    assert _distinct(t["small"], "id1") == t["small"].num_rows


@pytest.fixture(scope="module")
def duck(files: dict[str, Path]) -> questions.DuckDBEngine:
    engine = questions.DuckDBEngine(threads=1)
    engine.load(files)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def ember_engine(spark, files: dict[str, Path]) -> questions.SparkAPIEngine:
    engine = questions.SparkAPIEngine(module="ember", spark=spark)
    engine.load(files)  # cached, as in the benchmark
    yield engine
    engine.unload()


@pytest.mark.parametrize("qid", [q.id for q in questions.QUESTIONS])
def test_ember_answer_matches_duckdb(ember_engine, duck, qid: str) -> None:
    question = questions.BY_ID[qid]
    want = questions.timed(duck, question)
    got = questions.timed(ember_engine, question)
    assert questions.matches(got, want), (got, want)
    assert want.out_rows > 0 and any(want.chk)
    assert ember_engine.ans is None  # released


def test_duckdb_checksum_is_the_sum_of_each_measure(duck) -> None:
    question = questions.BY_ID["join q3"]  # a left join: v2 is null where medium has no match
    got = questions.timed(duck, question)
    table = duck.con.sql(questions.SQL["join q3"].replace("FROM x", "FROM jx AS x")).to_arrow_table()
    assert got.out_rows == table.num_rows
    for measure, chk in zip(question.measures, got.chk, strict=True):
        column = table.column(measure)
        assert chk == pytest.approx(pc.sum(pc.cast(column, pa.float64())).as_py())
    assert table.column("v2").null_count > 0


def test_matches_compares_rows_and_checksums_within_half_a_percent() -> None:
    ref = questions.Answer(0.0, 10, (100.0, -50.0))
    assert questions.matches(questions.Answer(1.0, 10, (100.4, -50.2)), ref)
    assert not questions.matches(questions.Answer(1.0, 11, (100.0, -50.0)), ref)
    assert not questions.matches(questions.Answer(1.0, 10, (101.0, -50.0)), ref)


def test_a_profile_is_summarised_by_own_and_inclusive_samples() -> None:
    from dbbench import profile

    raw = "\n".join([
        "main (x.py:1);run_task (/src/ember/exec/task.py:120);_group_by "
        "(/lib/python3.11/site-packages/pyarrow/acero.py:419) 30",
        "main (x.py:1);run_task (/src/ember/exec/task.py:120);write "
        "(/src/ember/exec/shuffle_files.py:146) 10",
        "main (x.py:1);wait (threading.py:327) 5",
        "garbage line",
    ])
    total, in_tasks, own, inclusive = profile.summarise(raw)
    assert (total, in_tasks) == (45, 40)
    assert own == [(30, "_group_by (pyarrow/acero.py:419)"),
                   (10, "write (ember/exec/shuffle_files.py:146)"),
                   (5, "wait (threading.py:327)")]
    assert inclusive[0] == (40, "run_task (ember/exec/task.py:120)")
    assert (30, "_group_by (pyarrow/acero.py:419)") in inclusive
