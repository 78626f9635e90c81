"""A Monte-Carlo estimate of pi written against PySpark, reproducible from a seed.

Each partition throws darts with its own seeded generator; the driver adds up the hits.

Run with ember: ember submit examples/pyspark/monte_carlo_pi.py [SAMPLES] [PARTITIONS]
"""

import random
import sys
from operator import add

from pyspark.sql import SparkSession


def hits(index: int, chunk):  # type: ignore[no-untyped-def]
    rng = random.Random(1000 + index)
    inside = 0
    for _ in chunk:
        x, y = rng.random() * 2 - 1, rng.random() * 2 - 1
        inside += x * x + y * y <= 1
    yield inside


def main() -> None:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 400_000
    partitions = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    spark = SparkSession.builder.appName("monte-carlo-pi").getOrCreate()
    sc = spark.sparkContext
    inside = sc.parallelize(range(samples), partitions).mapPartitionsWithIndex(hits).reduce(add)
    print(f"samples {samples}")
    print(f"inside {inside}")
    print(f"pi {4.0 * inside / samples:.6f}")
    spark.stop()


if __name__ == "__main__":
    main()
