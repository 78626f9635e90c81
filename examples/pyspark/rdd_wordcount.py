"""An RDD text job written against PySpark: word frequencies and the longest lines.

Run with ember: ember submit examples/pyspark/rdd_wordcount.py [PATH] [TOP]
"""

import re
import sys
from operator import add
from pathlib import Path

from pyspark import SparkConf, SparkContext

DEFAULT = Path(__file__).resolve().parents[1] / "data" / "pipelines.txt"


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT)
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    sc = SparkContext(conf=SparkConf().setAppName("rdd-wordcount"))
    lines = sc.textFile(path)
    words = lines.flatMap(lambda line: re.split(r"[^a-z']+", line.lower())) \
        .filter(lambda w: w != "")
    counts = words.map(lambda w: (w, 1)).reduceByKey(add)
    for word, n in counts.sortBy(lambda kv: (-kv[1], kv[0])).take(top):
        print(f"{word}\t{n}")
    print(f"lines\t{lines.count()}")
    print(f"distinct\t{counts.count()}")
    longest = lines.map(lambda line: (len(line.split()), line)).top(1)[0]
    print(f"longest\t{longest[0]}")
    sc.stop()


if __name__ == "__main__":
    main()
