"""A job that keeps its executors busy for about SECONDS, then prints ``sum 6``."""

import sys
import time

from pyspark.sql import SparkSession


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    spark = SparkSession.builder.appName("sleepy").getOrCreate()
    rdd = spark.sparkContext.parallelize(range(4), 2)
    total = rdd.map(lambda x: (time.sleep(seconds / 2), x)[1]).sum()
    print(f"sum {total}")
    spark.stop()


if __name__ == "__main__":
    main()
