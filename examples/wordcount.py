"""Word count: read a text file, split lines into words, count them, show the most frequent.

Run: python examples/wordcount.py [PATH] [--top N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ember.sql import SparkSession
from ember.sql import functions as F

DEFAULT_INPUT = Path(__file__).parent / "data" / "pipelines.txt"


def word_counts(spark: SparkSession, path: str):  # type: ignore[no-untyped-def]
    lines = spark.read.text(path)
    words = lines.select(F.explode(F.split(F.lower(F.col("value")), "[^a-z']+")).alias("word"))
    return (words.filter(F.col("word") != "")
            .groupBy("word").count()
            .orderBy(F.desc("count"), F.asc("word")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", default=str(DEFAULT_INPUT))
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    spark = SparkSession.builder.master(args.master).appName("wordcount").getOrCreate()
    try:
        counts = word_counts(spark, args.path)
        counts.show(args.top, truncate=False)
        print(f"distinct words: {counts.count()}")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
