"""``ember submit`` runs programs written against pyspark, unchanged."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pyspark"


def submit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ember.cli", "submit", *args],
                          capture_output=True, text=True, timeout=180, cwd=cwd)


def parse_show(text: str) -> list[list[str]]:
    """The rows of every table ``show()`` printed, cells stripped."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def load_example(name: str):  # type: ignore[no-untyped-def]
    """Import an example module (its pyspark imports resolve to ember) for its helpers."""
    from ember.compat import pyspark_alias

    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    pyspark_alias.install()
    try:
        spec.loader.exec_module(module)
    finally:
        pyspark_alias.uninstall()
    return module


def test_sql_over_json_example_matches_pandas(tmp_path: Path) -> None:
    example = load_example("sql_over_json")
    example.write_events(str(tmp_path / "events"))
    out = submit("--master", "local[2]", str(EXAMPLES / "sql_over_json.py"),
                 str(tmp_path / "events"))
    assert out.returncode == 0, out.stderr
    tables = parse_show(out.stdout)
    assert tables[0] == ["events", "with_coupon"]
    events = pd.concat([pd.read_json(p, lines=True) for p in sorted((tmp_path / "events").iterdir())])
    assert tables[1] == [str(len(events)), str(int(events["coupon"].notna().sum()))]
    products = pd.DataFrame(example.PRODUCTS, columns=["product", "name", "kind"])
    sales = events.merge(products, on="product")
    sales["revenue"] = sales.qty * sales.price
    expected = (sales.groupby(["region", "kind"]).agg(revenue=("revenue", "sum"),
                                                     orders=("revenue", "size"))
                .reset_index())
    expected = expected[expected.revenue > 100].sort_values(["region", "revenue"],
                                                            ascending=[True, False])
    body = tables[3:]
    assert tables[2] == ["region", "kind", "revenue", "orders"]
    assert [(r[0], r[1], float(r[2]), int(r[3])) for r in body] == [
        (r.region, r.kind, round(r.revenue, 2), r.orders) for r in expected.itertuples()]


def test_submit_passes_master_conf_name_and_arguments(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent("""
        import sys
        from pyspark.sql import SparkSession
        spark = SparkSession.builder.getOrCreate()
        print("master=" + spark.conf.get("spark.master"))
        print("partitions=" + spark.conf.get("spark.sql.shuffle.partitions"))
        print("name=" + spark.conf.get("spark.app.name"))
        print("args=" + ",".join(sys.argv[1:]))
        print("rows=" + str(spark.range(5).count()))
    """))
    out = submit("--master", "local[1]", "--conf", "spark.sql.shuffle.partitions=3",
                 "--name", "demo", str(app), "a", "--flag")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["master=local[1]", "partitions=3", "name=demo",
                                  "args=a,--flag", "rows=5"]


def test_settings_made_by_the_program_win_over_submit_flags(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent("""
        from pyspark.sql import SparkSession
        spark = SparkSession.builder.master("local[1]") \\
            .config("spark.sql.shuffle.partitions", "5").getOrCreate()
        print(spark.conf.get("spark.master"), spark.conf.get("spark.sql.shuffle.partitions"))
    """))
    out = submit("--master", "local[2]", "--conf", "spark.sql.shuffle.partitions=3", str(app))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["local[1]", "5"]


@pytest.mark.parametrize(("code", "message"), [
    ("import pyspark.ml", "ember does not support pyspark.ml yet"),
    ("from pyspark.sql import functions as F\nF.no_such_function('x')",
     "pyspark.sql.functions.no_such_function is not supported by ember yet"),
    ("from pyspark.sql import SparkSession\n"
     "SparkSession.builder.getOrCreate().range(3).cube('id')",
     "DataFrame.cube is not supported by ember yet"),
])
def test_missing_pyspark_features_fail_with_a_clear_message(tmp_path: Path, code: str,
                                                           message: str) -> None:
    app = tmp_path / "app.py"
    app.write_text(code + "\n")
    out = submit("--master", "local[1]", str(app))
    assert out.returncode == 1
    assert message in out.stderr


def test_submit_refuses_bad_arguments(tmp_path: Path) -> None:
    out = submit(str(tmp_path / "missing.py"))
    assert out.returncode == 2 and "no such file" in out.stderr
    app = tmp_path / "app.py"
    app.write_text("print('hi')\n")
    out = submit("--conf", "novalue", str(app))
    assert out.returncode == 2 and "--conf takes key=value" in out.stderr


def test_the_import_hook_is_active_only_while_installed() -> None:
    from ember.compat import pyspark_alias

    pyspark_alias.install()
    try:
        import pyspark.sql.functions as functions  # type: ignore[import-not-found]

        from ember.sql import functions as ember_functions
        assert functions is ember_functions
    finally:
        pyspark_alias.uninstall()
    assert "pyspark" not in sys.modules or not sys.modules["pyspark"].__name__.startswith("ember")


def test_etl_with_windows_example_matches_pandas() -> None:
    example = load_example("etl_windows")
    out = submit("--master", "local[2]", str(EXAMPLES / "etl_windows.py"), "300")
    assert out.returncode == 0, out.stderr
    tables = parse_show(out.stdout)
    frame = pd.DataFrame(example.orders(300), columns=[
        "order_id", "customer", "product", "category", "ts", "qty", "price"])
    frame["amount"] = frame.qty * frame.price
    frame = frame.sort_values(["customer", "ts", "order_id"])
    frame["running_total"] = frame.groupby("customer").amount.cumsum()
    frame["order_no"] = frame.groupby("customer").cumcount() + 1
    third = frame[frame.order_no == 3].sort_values("customer")
    header = tables.index(["customer", "order_id", "running_total"])
    got = [(r[0], int(r[1]), float(r[2])) for r in tables[header + 1: header + 1 + len(third)]]
    assert got == [(r.customer, r.order_id, round(r.running_total, 6))
                   for r in third.itertuples()]
    revenue = frame.groupby(["category", "product"]).amount.sum().reset_index()
    revenue["rank"] = revenue.groupby("category").amount.rank(method="dense", ascending=False)
    best = revenue[revenue["rank"] <= 2].sort_values(["category", "rank", "product"])
    start = tables.index(["category", "product", "revenue", "rank"])
    got = [(r[0], r[1], float(r[2]), int(r[3])) for r in tables[start + 1:]]
    assert got == [(r.category, r.product, r.amount, int(r.rank)) for r in best.itertuples()]


def _tab_lines(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines() if "\t" in line]


def test_rdd_wordcount_example_matches_a_counter() -> None:
    import re
    from collections import Counter

    data = EXAMPLES.parent / "data" / "pipelines.txt"
    out = submit("--master", "local[2]", str(EXAMPLES / "rdd_wordcount.py"), str(data), "5")
    assert out.returncode == 0, out.stderr
    lines = data.read_text().splitlines()
    counts = Counter(w for line in lines for w in re.split(r"[^a-z']+", line.lower()) if w)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    rows = _tab_lines(out.stdout)
    assert [(w, int(n)) for w, n in rows[:5]] == top
    assert rows[5:] == [["lines", str(len(lines))], ["distinct", str(len(counts))],
                        ["longest", str(max(len(line.split()) for line in lines))]]


def test_monte_carlo_pi_example_matches_the_same_draws_in_python() -> None:
    example = load_example("monte_carlo_pi")
    samples, partitions = 50_000, 4
    out = submit("--master", "local[2]", str(EXAMPLES / "monte_carlo_pi.py"), str(samples),
                 str(partitions))
    assert out.returncode == 0, out.stderr
    # parallelize() splits a range into equal contiguous slices, as PySpark does.
    inside = sum(next(example.hits(i, range(samples * i // partitions,
                                            samples * (i + 1) // partitions)))
                 for i in range(partitions))
    assert out.stdout.split() == ["samples", str(samples), "inside", str(inside), "pi",
                                  f"{4.0 * inside / samples:.6f}"]


def test_pagerank_example_matches_plain_python() -> None:
    example = load_example("pagerank")
    out = submit("--master", "local[2]", str(EXAMPLES / "pagerank.py"), "6")
    assert out.returncode == 0, out.stderr
    links: dict[str, list[str]] = {}
    for src, dst in sorted(set(example.generated_edges())):
        links.setdefault(src, []).append(dst)
    ranks = {page: 1.0 for page in links}
    for _ in range(6):
        contribs: dict[str, float] = {}
        for page, urls in links.items():
            if page in ranks:
                for url in urls:
                    contribs[url] = contribs.get(url, 0.0) + ranks[page] / len(urls)
        ranks = {url: 0.15 + 0.85 * c for url, c in contribs.items()}
    top = sorted(ranks.items(), key=lambda kv: (-round(kv[1], 9), kv[0]))[:5]
    got = [(page, float(rank)) for page, rank in _tab_lines(out.stdout)]
    assert [p for p, _ in got] == [p for p, _ in top]
    assert [r for _, r in got] == pytest.approx([round(r, 6) for _, r in top], abs=1e-6)
