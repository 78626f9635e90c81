"""A job whose one task fills MEGABYTES of memory in its executor, then prints ``filled N``."""

import sys

from pyspark.sql import SparkSession


def fill(megabytes: int) -> int:
    block = b"\x01" * (megabytes * 1024 * 1024)  # written, so resident
    return len(block) // (1024 * 1024)


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    spark = SparkSession.builder.appName("hog").getOrCreate()
    filled = spark.sparkContext.parallelize([megabytes], 1).map(fill).collect()
    print(f"filled {filled[0]}")
    spark.stop()


if __name__ == "__main__":
    main()
