"""The RDD API on real executors, every operation checked against plain Python."""

from __future__ import annotations

import gzip
import operator
import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from ember.core.context import SparkContext
from ember.core.rdd import RDD
from ember.core.resultiterable import ResultIterable
from ember.errors import SparkJobError
from ember.sql import Row

TEXT = """the quick brown fox
jumps over the lazy dog

The dog sleeps, the fox runs
and the end
"""


@pytest.fixture(scope="module")
def sc(spark):  # type: ignore[no-untyped-def]
    return spark.sparkContext


def _pairs(seed: int, n: int, keys: int) -> list[tuple[object, int]]:
    rng = random.Random(seed)
    return [(rng.choice([f"k{rng.randrange(keys)}", rng.randrange(keys), None]), rng.randrange(100))
            for _ in range(n)]


# -- the context ---------------------------------------------------------------------------------


def test_spark_context_is_one_per_session_and_describes_it(spark, sc) -> None:  # type: ignore[no-untyped-def]
    assert spark.sparkContext is sc
    assert SparkContext.getOrCreate() is sc
    assert SparkContext(conf=spark.sparkContext.getConf()) is sc
    assert sc.defaultParallelism == 2
    assert sc.master == "local[2]"
    assert sc.appName == "ember-tests"
    assert sc.applicationId.startswith("app-")
    assert sc.version == spark.version
    assert sc.getConf().get("spark.sql.shuffle.partitions") == "4"
    sc.setLogLevel("WARN")


def test_stopping_a_session_stops_its_context(make_session) -> None:  # type: ignore[no-untyped-def]
    spark = make_session("local[1]")
    sc = spark.sparkContext
    assert sc.parallelize([1, 2, 3]).count() == 3
    sc.stop()
    with pytest.raises(Exception, match="stopped"):
        sc.parallelize([1]).collect()


# -- creating RDDs -------------------------------------------------------------------------------


def test_parallelize_slices_data_as_pyspark(sc) -> None:  # type: ignore[no-untyped-def]
    data = list(range(10))
    rdd = sc.parallelize(data, 3)
    assert isinstance(rdd, RDD)
    assert rdd.getNumPartitions() == 3
    assert rdd.glom().collect() == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    assert sc.parallelize(data).getNumPartitions() == 2
    assert sc.parallelize([1, 2], 4).glom().collect() == [[], [1], [], [2]]
    objects = [{"a": [1, 2]}, (None, 1.5), "x", b"y", frozenset({1})]
    assert sc.parallelize(objects, 2).collect() == objects


def test_ranges_are_computed_in_the_executors(sc) -> None:  # type: ignore[no-untyped-def]
    assert sc.range(5).collect() == [0, 1, 2, 3, 4]
    assert sc.range(2, 20, 3, numSlices=4).collect() == list(range(2, 20, 3))
    assert sc.range(10, 0, -2).collect() == [10, 8, 6, 4, 2]
    rdd = sc.parallelize(range(1000), 7)
    assert rdd.getNumPartitions() == 7
    assert rdd.glom().map(len).collect() == [len(range(1000)[1000 * i // 7:1000 * (i + 1) // 7])
                                             for i in range(7)]
    assert sc.range(0).collect() == []


def test_empty_rdd(sc) -> None:  # type: ignore[no-untyped-def]
    empty = sc.emptyRDD()
    assert empty.getNumPartitions() == 0
    assert empty.collect() == []
    assert empty.count() == 0
    assert empty.isEmpty()
    assert empty.take(3) == []
    assert empty.map(lambda x: (x, 1)).reduceByKey(operator.add).collect() == []
    assert empty.union(sc.parallelize([1])).collect() == [1]


def test_word_count_over_a_text_file(sc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "words.txt"
    path.write_text(TEXT)
    lines = sc.textFile(str(path))
    assert lines.collect() == TEXT.splitlines()
    counts = (lines.flatMap(lambda line: line.lower().split())
              .map(lambda w: (w, 1))
              .reduceByKey(lambda a, b: a + b))
    expected = Counter(TEXT.lower().split())
    assert dict(counts.collect()) == dict(expected)
    assert counts.count() == len(expected)


def test_text_files_split_at_line_boundaries(sc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = [f"line {i} " + "x" * (i % 37) for i in range(2000)]
    (tmp_path / "a.txt").write_text("\n".join(lines[:1000]) + "\n")
    (tmp_path / "b.txt").write_text("\r\n".join(lines[1000:]))  # no final newline
    (tmp_path / "_SUCCESS").write_text("")
    for n in (1, 3, 17):
        rdd = sc.textFile(str(tmp_path), minPartitions=n)
        assert rdd.getNumPartitions() >= n
        assert rdd.collect() == lines
    assert sc.textFile(str(tmp_path / "*.txt")).count() == 2000
    assert sc.textFile(f"{tmp_path / 'a.txt'},{tmp_path / 'b.txt'}").count() == 2000


# -- narrow transformations ----------------------------------------------------------------------


def test_narrow_transformations_match_python(sc) -> None:  # type: ignore[no-untyped-def]
    data = list(range(-50, 50))
    rdd = sc.parallelize(data, 4)
    assert rdd.map(lambda x: x * 2).collect() == [x * 2 for x in data]
    assert rdd.filter(lambda x: x % 3 == 0).collect() == [x for x in data if x % 3 == 0]
    assert rdd.flatMap(lambda x: [x] * (x % 3)).collect() == [y for x in data
                                                              for y in [x] * (x % 3)]
    assert rdd.mapPartitions(lambda it: [sum(it)]).collect() == [
        sum(data[25 * i:25 * (i + 1)]) for i in range(4)]
    assert rdd.mapPartitionsWithIndex(lambda i, it: [(i, len(list(it)))]).collect() == [
        (0, 25), (1, 25), (2, 25), (3, 25)]
    pairs = rdd.keyBy(lambda x: x % 5)
    assert pairs.collect() == [(x % 5, x) for x in data]
    assert pairs.keys().collect() == [x % 5 for x in data]
    assert pairs.values().collect() == data
    assert pairs.mapValues(str).collect() == [(x % 5, str(x)) for x in data]
    assert pairs.flatMapValues(lambda v: range(v % 2)).collect() == [
        (x % 5, y) for x in data for y in range(x % 2)]
    assert rdd.glom().map(len).collect() == [25, 25, 25, 25]
    assert rdd.cache() is rdd and rdd.persist() is rdd and rdd.unpersist() is rdd


def test_long_chains_of_maps_run_as_one_pipeline(sc) -> None:  # type: ignore[no-untyped-def]
    rdd = sc.parallelize(range(100), 2)
    for _ in range(200):
        rdd = rdd.map(lambda x: x + 1)
    assert rdd.sum() == sum(range(200, 300))
    assert "PythonRDD" in rdd.toDebugString().decode()


def test_union_distinct_and_partitions(sc) -> None:  # type: ignore[no-untyped-def]
    a = sc.parallelize([1, 2, 2, 3, None], 2)
    b = sc.parallelize([3, 4, 4, "x"], 3)
    union = a.union(b)
    assert union.getNumPartitions() == 5
    assert union.collect() == [1, 2, 2, 3, None, 3, 4, 4, "x"]
    assert (a + b).count() == 9
    assert sorted(union.distinct().collect(), key=repr) == sorted({1, 2, 3, None, 4, "x"},
                                                                  key=repr)
    assert union.distinct(7).getNumPartitions() == 7
    per_part = union.mapPartitionsWithIndex(lambda i, it: [i]).collect()
    assert per_part == [0, 1, 2, 3, 4]


def test_repartition_and_coalesce(sc) -> None:  # type: ignore[no-untyped-def]
    data = list(range(1000))
    rdd = sc.parallelize(data, 4)
    more = rdd.repartition(7)
    assert more.getNumPartitions() == 7
    assert sorted(more.collect()) == data
    sizes = more.glom().map(len).collect()
    assert len(sizes) == 7 and min(sizes) > 100  # round robin spreads evenly
    fewer = rdd.coalesce(2)
    assert fewer.getNumPartitions() == 2
    assert fewer.collect() == data
    assert fewer.glom().map(len).collect() == [500, 500]
    assert rdd.coalesce(10).getNumPartitions() == 4
    assert rdd.coalesce(1, shuffle=True).glom().map(len).collect() == [1000]


def test_zip_with_index_numbers_in_partition_order(sc) -> None:  # type: ignore[no-untyped-def]
    data = [chr(ord("a") + i % 26) for i in range(300)]
    rdd = sc.parallelize(data, 5).filter(lambda c: c != "e")
    kept = [c for c in data if c != "e"]
    assert rdd.zipWithIndex().collect() == [(c, i) for i, c in enumerate(kept)]
    assert sc.parallelize(["x"], 1).zipWithIndex().collect() == [("x", 0)]
    ids = sc.parallelize(range(10), 3).zipWithUniqueId().collect()
    assert len({i for _, i in ids}) == 10


def test_sample_fraction_is_about_right_and_seeded(sc) -> None:  # type: ignore[no-untyped-def]
    rdd = sc.parallelize(range(10_000), 4)
    a = rdd.sample(False, 0.1, seed=42).collect()
    assert a == rdd.sample(False, 0.1, seed=42).collect()
    assert a != rdd.sample(False, 0.1, seed=43).collect()
    assert 800 <= len(a) <= 1200
    assert set(a) <= set(range(10_000)) and len(set(a)) == len(a)
    with_replacement = rdd.sample(True, 0.5, seed=7).collect()
    assert 4500 <= len(with_replacement) <= 5500
    assert max(Counter(with_replacement).values()) > 1
    assert 18_000 <= rdd.sample(True, 2.0, seed=1).count() <= 22_000
    assert rdd.sample(False, 0.0, seed=1).count() == 0
    assert rdd.sample(False, 1.0, seed=1).count() == 10_000
    with pytest.raises(ValueError, match="nonnegative"):
        rdd.sample(False, -0.1)
    parts = rdd.randomSplit([1, 3], seed=5)
    left, right = parts[0].collect(), parts[1].collect()
    assert sorted(left + right) == list(range(10_000))
    assert 2000 <= len(left) <= 3000


# -- keyed shuffles ------------------------------------------------------------------------------


def test_by_key_aggregations_match_python(sc) -> None:  # type: ignore[no-untyped-def]
    data = _pairs(1, 3000, 40)
    rdd = sc.parallelize(data, 3)
    sums: defaultdict[object, int] = defaultdict(int)
    groups: defaultdict[object, list[int]] = defaultdict(list)
    for k, v in data:
        sums[k] += v
        groups[k].append(v)
    assert dict(rdd.reduceByKey(operator.add).collect()) == sums
    assert rdd.reduceByKey(operator.add, 5).getNumPartitions() == 5
    assert dict(rdd.foldByKey(0, operator.add).collect()) == sums
    grouped = rdd.groupByKey().collect()
    assert all(isinstance(vs, ResultIterable) for _, vs in grouped)
    assert {k: sorted(vs) for k, vs in grouped} == {k: sorted(vs) for k, vs in groups.items()}
    assert {k: sorted(vs) for k, vs in rdd.groupByKey(2).mapValues(list).collect()} == {
        k: sorted(vs) for k, vs in groups.items()}
    sum_count = rdd.aggregateByKey((0, 0), lambda acc, v: (acc[0] + v, acc[1] + 1),
                                   lambda a, b: (a[0] + b[0], a[1] + b[1]))
    assert dict(sum_count.collect()) == {k: (sum(vs), len(vs)) for k, vs in groups.items()}
    # A mutable zero value is copied for every key, never shared.
    lists = rdd.aggregateByKey([], lambda acc, v: acc + [v], operator.add)
    assert {k: sorted(vs) for k, vs in lists.collect()} == {
        k: sorted(vs) for k, vs in groups.items()}
    combined = rdd.combineByKey(lambda v: {v}, lambda s, v: s | {v}, lambda a, b: a | b)
    assert dict(combined.collect()) == {k: set(vs) for k, vs in groups.items()}
    assert rdd.countByKey() == Counter(k for k, _ in data)
    assert rdd.values().countByValue() == Counter(v for _, v in data)
    assert rdd.collectAsMap() == dict(data)
    assert sorted(rdd.lookup(data[0][0])) == sorted(groups[data[0][0]])


def test_combining_happens_map_side_before_the_shuffle(sc) -> None:  # type: ignore[no-untyped-def]
    rdd = sc.parallelize([(i % 3, 1) for i in range(30_000)], 4)
    # Each combiner counts the map-side partials merged into it: one per map partition.
    combined = rdd.combineByKey(lambda v: (v, 1), lambda c, v: (c[0] + v, c[1]),
                                lambda a, b: (a[0] + b[0], a[1] + b[1]), 2)
    assert sorted(combined.collect()) == [(0, (10_000, 4)), (1, (10_000, 4)), (2, (10_000, 4))]
    assert sorted(rdd.groupByKey(2).mapValues(len).collect()) == [(0, 10_000), (1, 10_000),
                                                                   (2, 10_000)]


def test_partition_by_uses_the_portable_hash(sc) -> None:  # type: ignore[no-untyped-def]
    from ember.core.portable_hash import portable_hash

    data = [(f"key{i}", i) for i in range(200)] + [((1, "a"), 0), (None, 1), (2.5, 2)]
    parts = sc.parallelize(data, 3).partitionBy(4).glom().collect()
    assert len(parts) == 4
    for p, records in enumerate(parts):
        assert all(portable_hash(k) % 4 == p for k, _ in records)
    assert sorted(map(repr, (r for part in parts for r in part))) == sorted(map(repr, data))
    custom = sc.parallelize(data[:20], 2).partitionBy(2, lambda k: int(k[3:]))
    assert custom.glom().map(lambda rs: {int(k[3:]) % 2 for k, _ in rs}).collect() == [{0}, {1}]
    partitioned = sc.parallelize(data, 3).partitionBy(4)
    assert partitioned.partitionBy(4) is partitioned


def _join_oracle(left: list, right: list, how: str) -> list:  # type: ignore[type-arg]
    out = []
    right_keys = {k for k, _ in right}
    left_keys = {k for k, _ in left}
    for k, v in left:
        matches = [w for k2, w in right if k2 == k]
        out += [(k, (v, w)) for w in matches]
        if not matches and how in ("left", "full"):
            out.append((k, (v, None)))
    if how in ("right", "full"):
        out += [(k, (None, w)) for k, w in right if k not in left_keys]
    assert right_keys is not None
    return out


@pytest.mark.parametrize("how", ["inner", "left", "right", "full"])
def test_joins_with_duplicate_keys_match_python(sc, how: str) -> None:  # type: ignore[no-untyped-def]
    left = [(1, "a"), (1, "b"), (2, "c"), (3, "d"), (None, "n"), ("s", "e")]
    right = [(1, "x"), (1, "y"), (3, "z"), (4, "w"), (None, "m"), ("s", "f"), ("s", "g")]
    a, b = sc.parallelize(left, 2), sc.parallelize(right, 3)
    method = {"inner": a.join, "left": a.leftOuterJoin, "right": a.rightOuterJoin,
              "full": a.fullOuterJoin}[how]
    got = method(b).collect()
    assert sorted(got, key=repr) == sorted(_join_oracle(left, right, how), key=repr)
    assert method(b, numPartitions=3).getNumPartitions() == 3
    assert method(b).getNumPartitions() == 5


def test_joins_of_larger_random_data(sc) -> None:  # type: ignore[no-untyped-def]
    left, right = _pairs(2, 600, 50), _pairs(3, 400, 50)
    got = sc.parallelize(left, 4).fullOuterJoin(sc.parallelize(right, 2), 3).collect()
    assert sorted(got, key=repr) == sorted(_join_oracle(left, right, "full"), key=repr)


def test_joins_of_co_partitioned_rdds_need_no_further_shuffle(spark, sc) -> None:  # type: ignore[no-untyped-def]
    left, right = _pairs(4, 300, 30), _pairs(5, 200, 30)
    a = sc.parallelize(left, 3).partitionBy(4)
    b = sc.parallelize(right, 2).partitionBy(4)
    assert a.union(b).getNumPartitions() == 4
    assert a.union(sc.parallelize(right, 2)).getNumPartitions() == 6
    joined = a.join(b)
    assert joined.getNumPartitions() == 4
    assert sorted(joined.collect(), key=repr) == sorted(_join_oracle(left, right, "inner"),
                                                        key=repr)
    # The two partitionBy shuffles, then the result stage: the join itself shuffles nothing.
    assert len(spark._runtime().job_history[-1]["stages"]) == 3


def test_an_rdd_on_both_sides_of_a_join_is_shuffled_once(spark, sc) -> None:  # type: ignore[no-untyped-def]
    edges = [("a", "b"), ("a", "c"), ("b", "c"), ("c", "a"), ("d", "a")]
    links = sc.parallelize(edges, 2).groupByKey()
    ranks = links.map(lambda kv: (kv[0], 1.0))
    for _ in range(3):
        contribs = links.join(ranks, 2).flatMap(
            lambda kv: [(dst, kv[1][1] / len(kv[1][0])) for dst in kv[1][0]])
        ranks = contribs.reduceByKey(operator.add, 2)
    out = defaultdict(list)
    for src, dst in edges:
        out[src].append(dst)
    expected = {src: 1.0 for src in out}
    for _ in range(3):
        step: defaultdict[str, float] = defaultdict(float)
        for src, rank in expected.items():
            for dst in out.get(src, []):
                step[dst] += rank / len(out[src])
        expected = dict(step)
    assert dict(ranks.collect()) == pytest.approx(expected)
    shuffles = [s["shuffle_id"] for s in spark._runtime().job_history[-1]["stages"].values()
                if s["shuffle_id"] is not None]
    assert len(shuffles) == len(set(shuffles))


def test_cogroup_and_friends(sc) -> None:  # type: ignore[no-untyped-def]
    a = sc.parallelize([(1, "a"), (1, "b"), (2, "c")], 2)
    b = sc.parallelize([(1, "x"), (3, "y")], 1)
    c = sc.parallelize([(3, "q")], 1)
    got = {k: (sorted(vs), sorted(ws)) for k, (vs, ws) in a.cogroup(b).collect()}
    assert got == {1: (["a", "b"], ["x"]), 2: (["c"], []), 3: ([], ["y"])}
    three = {k: tuple(sorted(g) for g in groups) for k, groups in a.groupWith(b, c).collect()}
    assert three == {1: (["a", "b"], ["x"], []), 2: (["c"], [], []), 3: ([], ["y"], ["q"])}
    assert sorted(a.subtractByKey(b).collect()) == [(2, "c")]
    assert sorted(sc.parallelize([1, 2, 2, 3]).subtract(sc.parallelize([2])).collect()) == [1, 3]
    assert sorted(sc.parallelize([1, 2, 2, 3, 5]).intersection(
        sc.parallelize([2, 3, 4, 3])).collect()) == [2, 3]


@pytest.mark.parametrize("ascending", [True, False])
@pytest.mark.parametrize("num_partitions", [None, 1, 5])
def test_sort_by_key_is_globally_sorted(sc, ascending: bool, num_partitions: int | None) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    data = [(rng.randrange(500), i) for i in range(2000)]
    rdd = sc.parallelize(data, 4).sortByKey(ascending, num_partitions)
    got = rdd.collect()
    assert [k for k, _ in got] == sorted((k for k, _ in data), reverse=not ascending)
    assert sorted(got) == sorted(data)
    assert rdd.getNumPartitions() == (num_partitions or 4)
    if num_partitions and num_partitions > 1:
        sizes = rdd.glom().map(len).collect()
        assert max(sizes) < 2000 * 0.6  # the sampled bounds spread the keys


def test_sort_by_and_key_functions(sc) -> None:  # type: ignore[no-untyped-def]
    words = "Banana apple Cherry date Elder fig".split()
    rdd = sc.parallelize(words, 3)
    assert rdd.sortBy(lambda w: w.lower()).collect() == sorted(words, key=str.lower)
    assert rdd.sortBy(len, ascending=False, numPartitions=2).map(len).collect() == sorted(
        map(len, words), reverse=True)
    pairs = rdd.map(lambda w: (w, 1))
    assert pairs.sortByKey(keyfunc=str.lower, numPartitions=2).keys().collect() == sorted(
        words, key=str.lower)
    assert sc.parallelize([], 2).sortBy(lambda x: x).collect() == []


# -- actions -------------------------------------------------------------------------------------


def test_take_first_top_and_take_ordered(spark, sc) -> None:  # type: ignore[no-untyped-def]
    data = list(range(1000))
    rng = random.Random(3)
    rng.shuffle(data)
    rdd = sc.parallelize(data, 10)
    runtime = spark._runtime()
    jobs_before = runtime.counters["jobs_total"]
    tasks_before = runtime.counters["tasks_launched_total"]
    assert rdd.take(5) == data[:5]
    assert runtime.counters["jobs_total"] == jobs_before + 1
    assert runtime.counters["tasks_launched_total"] == tasks_before + 1  # one partition sufficed
    assert rdd.take(250) == data[:250]
    assert rdd.take(5000) == data
    assert rdd.take(0) == []
    assert rdd.first() == data[0]
    assert sc.parallelize([1, 2, 3], 10).filter(lambda x: x == 3).take(5) == [3]
    assert rdd.top(4) == sorted(data, reverse=True)[:4]
    assert rdd.top(3, key=lambda x: -x) == [0, 1, 2]
    assert rdd.takeOrdered(4) == [0, 1, 2, 3]
    assert rdd.takeOrdered(3, key=lambda x: -x) == [999, 998, 997]
    with pytest.raises(ValueError, match="RDD is empty"):
        sc.parallelize([], 2).first()
    assert not rdd.isEmpty()
    assert sc.parallelize([], 3).isEmpty()


def test_take_over_a_shuffle_reuses_its_map_output(spark, sc) -> None:  # type: ignore[no-untyped-def]
    counts = sc.parallelize([(i % 50, 1) for i in range(5000)], 4).reduceByKey(operator.add, 8)
    runtime = spark._runtime()
    assert len(counts.take(3)) == 3
    assert sorted(counts.collect()) == [(k, 100) for k in range(50)]
    # The second job found the shuffle's map outputs of the first and ran only its result stage.
    assert len(runtime.job_history[-1]["stages"]) == 2
    tasks_before = runtime.counters["tasks_launched_total"]
    assert counts.count() == 50
    assert runtime.counters["tasks_launched_total"] - tasks_before == 8


def test_reductions_match_python(sc) -> None:  # type: ignore[no-untyped-def]
    data = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
    rdd = sc.parallelize(data, 4)
    assert rdd.reduce(operator.add) == sum(data)
    assert rdd.reduce(max) == max(data)
    assert rdd.fold(0, operator.add) == sum(data)
    # As in Spark, the zero value is folded in once per partition and once on the driver.
    assert rdd.fold(1, operator.add) == sum(data) + 5
    assert rdd.aggregate((0, 0), lambda acc, x: (acc[0] + x, acc[1] + 1),
                         lambda a, b: (a[0] + b[0], a[1] + b[1])) == (sum(data), len(data))
    assert rdd.sum() == sum(data)
    assert rdd.count() == len(data)
    assert rdd.max() == 9 and rdd.min() == 1
    assert rdd.max(key=lambda x: -x) == 1
    assert rdd.mean() == pytest.approx(sum(data) / len(data))
    stats = rdd.stats()
    assert stats.count() == len(data)
    assert stats.stdev() == pytest.approx(
        (sum((x - sum(data) / len(data)) ** 2 for x in data) / len(data)) ** 0.5)
    assert rdd.countByValue() == Counter(data)
    assert sc.parallelize([], 3).sum() == 0
    assert sc.parallelize([], 3).fold(0, operator.add) == 0


def test_reduce_of_an_empty_rdd_raises_value_error(sc) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="Can not reduce\\(\\) empty RDD"):
        sc.parallelize([], 3).reduce(operator.add)
    with pytest.raises(ValueError, match="empty RDD"):
        sc.emptyRDD().max()


def test_foreach_runs_in_the_executors(sc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = str(tmp_path)

    def record(x: int) -> None:
        import os

        Path(out, f"{x}.{os.getpid()}").touch()

    sc.parallelize(range(6), 3).foreach(record)
    files = [p.name for p in tmp_path.iterdir()]
    assert sorted(int(f.split(".")[0]) for f in files) == list(range(6))
    import os

    assert all(int(f.split(".")[1]) != os.getpid() for f in files)

    def write_partition(it) -> None:  # type: ignore[no-untyped-def]
        items = list(it)
        Path(out, f"part-{min(items) if items else 'none'}").write_text(str(len(items)))

    sc.parallelize(range(6), 2).foreachPartition(write_partition)
    assert Path(out, "part-0").read_text() == "3"
    assert Path(out, "part-3").read_text() == "3"


def test_save_as_text_file_then_read_it_back(sc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = ["alpha", "beta", 3, (4, "x"), None, "ünïcode"]
    out = tmp_path / "out"
    sc.parallelize(data, 3).saveAsTextFile(str(out))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    assert (out / "part-00000").read_text() == "alpha\nbeta\n"
    assert sc.textFile(str(out)).collect() == [str(x) for x in data]
    with pytest.raises(FileExistsError, match="already exists"):
        sc.parallelize(data).saveAsTextFile(str(out))
    zipped = tmp_path / "zipped"
    sc.parallelize(data, 2).saveAsTextFile(str(zipped),
                                           "org.apache.hadoop.io.compress.GzipCodec")
    assert gzip.decompress((zipped / "part-00000.gz").read_bytes()) == b"alpha\nbeta\n3\n"
    assert sc.textFile(str(zipped)).collect() == [str(x) for x in data]


def test_user_exceptions_surface_with_their_traceback(sc) -> None:  # type: ignore[no-untyped-def]
    def parse(x: int) -> float:
        if x == 7:
            raise ZeroDivisionError("no sevens allowed")
        return 1 / (x + 1)

    with pytest.raises(SparkJobError) as info:
        sc.parallelize(range(10), 2).map(parse).collect()
    message = str(info.value)
    assert "failed 4 times" in message
    assert "ZeroDivisionError: no sevens allowed" in message
    assert "in parse" in message
    assert "test_rdd.py" in message
    with pytest.raises(SparkJobError, match="(?s)KeyError.*in <lambda>"):
        sc.parallelize([("a", 1)]).reduceByKey(lambda a, b: a).map(lambda kv: {}[kv]).count()
    assert sc.parallelize([1, 2]).count() == 2  # the context stays usable


def test_an_rdd_inside_a_closure_is_refused(sc) -> None:  # type: ignore[no-untyped-def]
    other = sc.parallelize([1])
    with pytest.raises(Exception, match="SPARK-5063"):
        sc.parallelize([1]).map(lambda x: other.count()).collect()


# -- DataFrames ----------------------------------------------------------------------------------


def test_to_df_and_df_rdd_round_trip(spark, sc) -> None:  # type: ignore[no-untyped-def]
    rows = [(1, "a", 1.5), (2, None, -0.5), (3, "c", None)]
    rdd = sc.parallelize(rows, 2)
    df = rdd.toDF(["id", "name", "score"])
    assert df.columns == ["id", "name", "score"]
    assert df.collect() == [Row(id=1, name="a", score=1.5), Row(id=2, name=None, score=-0.5),
                            Row(id=3, name="c", score=None)]
    back = df.rdd
    assert isinstance(back, RDD)
    assert back.collect() == df.collect()
    assert back.map(lambda r: (r.id, r["name"])).collect() == [(1, "a"), (2, None), (3, "c")]
    assert [tuple(r) for r in back.collect()] == rows
    typed = spark.createDataFrame(rdd, "id INT, name STRING, score DOUBLE")
    assert typed.dtypes == [("id", "int"), ("name", "string"), ("score", "double")]
    assert typed.filter("id > 1").count() == 2
    from_rows = sc.parallelize([Row(a=1, b="x"), Row(a=2, b="y")]).toDF()
    assert from_rows.columns == ["a", "b"]
    assert from_rows.groupBy().sum("a").collect()[0][0] == 3


def test_df_rdd_after_a_shuffle(spark) -> None:  # type: ignore[no-untyped-def]
    from ember.sql import functions as F

    df = spark.range(100).groupBy((F.col("id") % 7).alias("k")).count()
    rdd = df.rdd
    assert sorted((r.k, r["count"]) for r in rdd.collect()) == sorted(
        Counter(i % 7 for i in range(100)).items())
    assert len(rdd.take(2)) == 2
    assert rdd.getNumPartitions() >= 1
    assert rdd.map(lambda r: r["count"]).sum() == 100
