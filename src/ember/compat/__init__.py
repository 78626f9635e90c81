"""Running programs written against ``pyspark`` on ember, unchanged."""
