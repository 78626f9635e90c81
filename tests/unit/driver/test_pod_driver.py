"""``ember driver``'s set-up: the properties file and mainApplicationFile, and their errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.core.conf import set_submitted
from ember.driver import pod_driver
from ember.driver.pod_driver import DriverSetupError, read_settings, resolve_main


@pytest.fixture(autouse=True)
def _clean_process_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``ember driver`` sets process-wide state: submitted settings, sys.path, PYTHONPATH."""
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    monkeypatch.setattr("sys.path", list(sys.path))
    # These programs start no session; the test run's shared one must survive them.
    monkeypatch.setattr("ember.driver.app_runner.stop_sessions", lambda: None)
    yield
    set_submitted({})


def test_main_file_forms(tmp_path: Path) -> None:
    program = tmp_path / "job.py"
    program.write_text("print('hi')\n")
    assert resolve_main(f"local://{program}") == program
    assert resolve_main(str(program)) == program
    with pytest.raises(DriverSetupError, match=r"spec.mainApplicationFile 'job.py' is not supported"):
        resolve_main("job.py")
    with pytest.raises(DriverSetupError, match=r"local:///path/in/the/image.py \(three slashes\)"):
        resolve_main("local://opt/job.py")
    with pytest.raises(DriverSetupError, match=f"no such file {tmp_path}/missing.py"):
        resolve_main(f"local://{tmp_path}/missing.py")


def test_settings_and_a_template_next_to_them(tmp_path: Path) -> None:
    (tmp_path / "spark.properties").write_text(
        "spark.app.name=etl\nspark.kubernetes.executor.podTemplateFile="
        "/nowhere/conf/executor-pod-template.json\n")
    (tmp_path / "executor-pod-template.json").write_text("{}")
    assert read_settings(tmp_path) == {
        "spark.app.name": "etl",
        "spark.kubernetes.executor.podTemplateFile": str(tmp_path / "executor-pod-template.json")}
    with pytest.raises(DriverSetupError, match="cannot read the Spark settings"):
        read_settings(tmp_path / "absent")


def test_setup_errors_exit_with_code_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EMBER_CONF_DIR", str(tmp_path))
    (tmp_path / "spark.properties").write_text("spark.app.name=etl\n")
    assert pod_driver.main("local:///no/such/app.py", []) == 2
    err = capsys.readouterr().err
    assert "ember driver: spec.mainApplicationFile 'local:///no/such/app.py': no such file" in err


def test_missing_secret_exits_with_code_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EMBER_CONF_DIR", str(tmp_path))
    monkeypatch.delenv("EMBER_SECRET", raising=False)
    (tmp_path / "spark.properties").write_text("spark.master=k8s://https://kubernetes.default.svc\n")
    program = tmp_path / "job.py"
    program.write_text("raise SystemExit(7)\n")
    assert pod_driver.main(str(program), []) == 2
    assert "ember driver: EMBER_SECRET is not set" in capsys.readouterr().err


def test_exit_code_and_arguments_are_the_programs(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBER_CONF_DIR", str(tmp_path))
    (tmp_path / "spark.properties").write_text("spark.master=local[1]\n")
    program = tmp_path / "job.py"
    program.write_text("import sys\nraise SystemExit(int(sys.argv[1]) + 1)\n")
    monkeypatch.setattr("sys.argv", ["ember"])
    assert pod_driver.main(f"local://{program}", ["6"]) == 7
