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
