"""ember: Apache Spark's architecture in Python, with no JVM."""
