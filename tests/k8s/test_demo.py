"""``make demo``'s program: the Kubernetes flow on the local cluster, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_spark_pi_to_completed_and_prints_the_result() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "local_cluster_demo.py")],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    states = re.findall(r"spark-pi: ([A-Z_]+)", done.stdout)
    assert states[0] == "NEW" and states[-1] == "COMPLETED" and "RUNNING" in states
    match = re.search(r"driver spark-pi-driver printed: pi (\d\.\d+)", done.stdout)
    assert match, done.stdout
    assert abs(float(match.group(1)) - 3.14159) < 0.02
    assert "stopped the operator and the local cluster" in done.stdout
