"""PageRank, an iterative graph algorithm written against PySpark's RDD API.

The graph is a small generated web of pages and links (or an edge-list file: one "src dst"
per line). Each iteration joins ranks with links, spreads each page's rank over its outgoing
links and applies the damping factor, as in the classic Spark example.

Run with ember: ember submit examples/pyspark/pagerank.py [ITERATIONS] [EDGES_FILE]
"""

import sys

from pyspark.sql import SparkSession


def generated_edges(pages: int = 60) -> list[tuple[str, str]]:
    edges = []
    for i in range(pages):
        for step in (1, 3, 7):
            if (i * step) % 5 != 4:
                edges.append((f"p{i}", f"p{(i * step + step) % pages}"))
    return edges


def read_edges(path: str) -> list[tuple[str, str]]:
    with open(path) as f:
        return [tuple(line.split()[:2]) for line in f if line.strip()]  # type: ignore[misc]


def contributions(urls, rank):  # type: ignore[no-untyped-def]
    for url in urls:
        yield url, rank / len(urls)


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    edges = read_edges(sys.argv[2]) if len(sys.argv) > 2 else generated_edges()
    spark = SparkSession.builder.appName("pagerank").getOrCreate()
    sc = spark.sparkContext
    links = sc.parallelize(edges, 4).distinct().groupByKey().mapValues(list).cache()
    ranks = links.map(lambda kv: (kv[0], 1.0))
    for _ in range(iterations):
        contribs = links.join(ranks).flatMap(lambda kv: contributions(kv[1][0], kv[1][1]))
        ranks = contribs.reduceByKey(lambda a, b: a + b).mapValues(lambda r: 0.15 + 0.85 * r)
    # Sums of floats depend on their order; rounding makes ties between equal ranks stable.
    for page, rank in ranks.sortBy(lambda kv: (-round(kv[1], 9), kv[0])).take(5):
        print(f"{page}\t{rank:.6f}")
    spark.stop()


if __name__ == "__main__":
    main()
