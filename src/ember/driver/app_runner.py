"""Runs the user's main program, as ``ember submit`` and ``ember driver`` both do.

The program runs in this process under ``__main__`` with ``pyspark`` importable as ember, its
folder and any extra files on the path (also for executors started from this environment). Its
exit code is the one ``python program.py`` would give: a ``SystemExit`` code, or 1 with the
traceback printed for an uncaught exception. Every SparkSession it left running is stopped.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path


def run_program(program: Path, args: Sequence[str], *,
                extra_paths: Sequence[str] = (), failure_file: Path | None = None) -> int:
    """Run ``program`` with ``args`` as its ``sys.argv[1:]``; its exit code.

    When it fails with an exception (or ``sys.exit("message")``), the exception's last line is
    also written to ``failure_file``: a pod's termination message.
    """
    from ember.compat import pyspark_alias

    folder = str(program.resolve().parent)
    paths = [str(Path(p).resolve()) for p in extra_paths]
    # Executors started from this process's environment see the same files.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        paths + [folder] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    sys.path[:0] = paths + [folder]
    pyspark_alias.install()
    sys.argv = [str(program), *args]
    try:
        runpy.run_path(str(program), run_name="__main__")
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            return exc.code or 0
        write_failure(failure_file, str(exc.code))
        return 1
    except BaseException as exc:  # the program's own error: report it like python would
        traceback.print_exc()
        write_failure(failure_file, traceback.format_exception_only(exc)[-1].strip())
        return 1
    finally:
        stop_sessions()
        pyspark_alias.uninstall()
    return 0


def write_failure(path: Path | None, message: str) -> None:
    """Best effort: a read-only or missing path must not hide the program's own error."""
    if path is None:
        return
    try:
        path.write_text(message[:4096] + "\n")
    except OSError:
        pass


def stop_sessions() -> None:
    from ember.sql.session import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
