"""The executor's check of its heap against its cgroup memory limit."""

from __future__ import annotations

from pathlib import Path

from ember.executor.server import cgroup_memory_limit, memory_fit_warning

MiB = 1024 * 1024


def test_heap_plus_minimum_overhead_must_fit_the_limit() -> None:
    assert memory_fit_warning(1024 * MiB, 1408 * MiB) is None
    assert memory_fit_warning(1024 * MiB, None) is None
    warning = memory_fit_warning(1024 * MiB, 1407 * MiB)
    assert warning is not None
    assert warning.startswith("the executor's memory limit is 1407 MiB, less than its heap of "
                              "1024 MiB plus 384 MiB of overhead")
    assert "spark.executor.memory" in warning and "spark.executor.memoryOverhead" in warning


def test_cgroup_v2_limit_of_own_cgroup(tmp_path: Path) -> None:
    (tmp_path / "pods" / "p1").mkdir(parents=True)
    (tmp_path / "pods" / "p1" / "memory.max").write_text("943718400\n")
    assert cgroup_memory_limit("0::/pods/p1\n", tmp_path) == 943718400
    (tmp_path / "pods" / "p1" / "memory.max").write_text("max\n")
    assert cgroup_memory_limit("0::/pods/p1\n", tmp_path) is None


def test_cgroup_v1_limit_and_unlimited(tmp_path: Path) -> None:
    own = tmp_path / "memory" / "job" / "x"
    own.mkdir(parents=True)
    (own / "memory.limit_in_bytes").write_text(str(2048 * MiB))
    text = "5:cpu,cpuacct:/\n4:memory:/job/x\n0::/\n"
    assert cgroup_memory_limit(text, tmp_path) == 2048 * MiB
    (own / "memory.limit_in_bytes").write_text("9223372036854771712")
    assert cgroup_memory_limit(text, tmp_path) is None
    assert cgroup_memory_limit("4:memory:/elsewhere\n", tmp_path / "none") is None
