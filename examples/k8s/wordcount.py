"""Word count for a SparkApplication: the most frequent words of a text file, counted with a shuffle.

The words are grouped with ``groupBy``, so the job has a shuffle stage; with two executors the
shuffle blocks travel between pods. Prints ``word count`` for the top 10 and ``distinct words N``.

In the ember image: local:///opt/ember/examples/k8s/wordcount.py [PATH]
Locally: ember submit examples/k8s/wordcount.py [PATH]
"""

import sys
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

# The image keeps the examples under /opt/ember/examples, so this is
# /opt/ember/examples/data/pipelines.txt there.
DEFAULT_INPUT = Path(__file__).resolve().parents[1] / "data" / "pipelines.txt"
TOP = 10


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_INPUT)
    spark = (SparkSession.builder.appName("wordcount")
             .config("spark.sql.shuffle.partitions", "4")
             .getOrCreate())
    words = (spark.read.text(path)
             .select(F.explode(F.split(F.lower(F.col("value")), "[^a-z']+")).alias("word"))
             .filter(F.col("word") != ""))
    counts = words.groupBy("word").count().cache()
    for row in counts.orderBy(F.desc("count"), F.asc("word")).limit(TOP).collect():
        print(f"{row['word']} {row['count']}")
    print(f"distinct words {counts.count()}")
    spark.stop()


if __name__ == "__main__":
    main()
