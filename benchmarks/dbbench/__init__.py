"""The database-like ops benchmark (h2oai db-benchmark, now maintained by DuckDB Labs), run
against ember, DuckDB, Polars and optionally PySpark on the same machine in the same run."""
