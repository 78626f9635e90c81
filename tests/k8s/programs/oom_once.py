"""A job whose first task fills MEGABYTES of memory once (a marker file remembers it), so its
executor is OOM-killed; the retry on a replacement executor succeeds. Prints ``sum of squares``.

Arguments: MARKER_PATH MEGABYTES
"""

import os
import sys

from pyspark.sql import SparkSession


def main() -> None:
    marker, megabytes = sys.argv[1], int(sys.argv[2])

    def square(x: int) -> int:
        if x == 0 and not os.path.exists(marker):
            open(marker, "w").close()
            block = b"\x01" * (megabytes * 1024 * 1024)  # written, so resident
            return len(block)
        return x * x

    spark = SparkSession.builder.appName("oom-once").getOrCreate()
    total = spark.sparkContext.parallelize(range(8), 2).map(square).sum()
    print(f"sum of squares {total}")
    spark.stop()


if __name__ == "__main__":
    main()
