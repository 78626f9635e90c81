"""Local mode's scheduler backend: executors are OS processes on this machine.

It starts ``python -m ember.executor`` processes, watches them, reports the ones that die and
starts replacements. Everything else (registration, tasks, shuffle) goes over HTTP exactly as
with executor pods.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("ember.backend")

LostCallback = Callable[[str, str], None]


@dataclass
class ExecutorProcess:
    executor_id: str
    process: subprocess.Popen
    log_path: Path


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class LocalBackend:
    def __init__(self, *, num_executors: int, cores: int, driver_url: str, app_id: str,
                 token: str, work_dir: Path, on_lost: LostCallback,
                 extra_env: dict[str, str] | None = None, max_replacements: int | None = None,
                 max_direct_result: int = 1 << 20) -> None:
        self.num_executors = num_executors
        self.cores = cores
        self.driver_url = driver_url
        self.app_id = app_id
        self.token = token
        self.work_dir = work_dir
        self.on_lost = on_lost
        self.extra_env = extra_env or {}
        self.max_replacements = max_replacements if max_replacements is not None \
            else 2 * num_executors + 8
        self.max_direct_result = max_direct_result
        self.replacements = 0
        self.procs: dict[str, ExecutorProcess] = {}
        self._ids = itertools.count(0)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="executor-monitor", daemon=True)

    def start(self) -> None:
        for _ in range(self.num_executors):
            self._spawn()
        self._monitor.start()

    def _spawn(self) -> ExecutorProcess:
        executor_id = str(next(self._ids))
        local_dir = self.work_dir / f"executor-{executor_id}"
        local_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update({
            "EMBER_DRIVER_URL": self.driver_url,
            "EMBER_APP_ID": self.app_id,
            "EMBER_EXECUTOR_ID": executor_id,
            "EMBER_SECRET": self.token,
            "EMBER_EXECUTOR_CORES": str(self.cores),
            "EMBER_LOCAL_DIR": str(local_dir),
            "EMBER_MAX_DIRECT_RESULT": str(self.max_direct_result),
            # Arrow's own thread pools would oversubscribe the cores given to each executor.
            "OMP_NUM_THREADS": str(self.cores),
        })
        log_path = self.work_dir / f"executor-{executor_id}.log"
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ember.executor"], env=env, stdout=log_file,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        ep = ExecutorProcess(executor_id, proc, log_path)
        with self._lock:
            self.procs[executor_id] = ep
        return ep

    def _watch(self) -> None:
        while not self._stopping.wait(0.1):
            with self._lock:
                dead = [ep for ep in self.procs.values() if ep.process.poll() is not None]
                for ep in dead:
                    del self.procs[ep.executor_id]
            for ep in dead:
                if self._stopping.is_set():
                    return
                code = ep.process.returncode
                reason = _exit_reason(ep.executor_id, code)
                tail = log_tail(ep.log_path)
                log.warning("%s%s", reason, f"\n{tail}" if tail else "")
                self.on_lost(ep.executor_id, reason)
                if self.replacements < self.max_replacements:
                    self.replacements += 1
                    self._spawn()
                else:
                    log.error("not replacing executor %s: %d replacements already",
                              ep.executor_id, self.replacements)

    def kill_executor(self, executor_id: str) -> None:
        with self._lock:
            ep = self.procs.get(executor_id)
        if ep is not None and ep.process.poll() is None:
            ep.process.kill()

    def pids(self) -> dict[str, int]:
        with self._lock:
            return {k: v.process.pid for k, v in self.procs.items()}

    def stop(self, timeout: float = 3.0) -> None:
        self._stopping.set()
        with self._lock:
            procs = list(self.procs.values())
            self.procs.clear()
        for ep in procs:
            if ep.process.poll() is None:
                ep.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for ep in procs:
            try:
                ep.process.wait(timeout=max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                ep.process.kill()
                ep.process.wait()
        if self._monitor.is_alive():
            self._monitor.join(timeout=1)


def _exit_reason(executor_id: str, code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        if -code == signal.SIGKILL:
            return (f"executor {executor_id} was killed (SIGKILL); if it ran out of memory, "
                    "raise spark.executor.memory")
        return f"executor {executor_id} was terminated by signal {name}"
    if code == 137:
        return (f"executor {executor_id} exited with code 137 (OOMKilled?): raise "
                "spark.executor.memoryOverhead")
    return f"executor {executor_id} exited with code {code}"
