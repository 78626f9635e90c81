"""Local mode's scheduler backend: executors are OS processes on this machine.

It starts executor processes (forked from a warm zygote), watches them, reports the ones that
die and starts replacements. Everything else (registration, tasks, shuffle) goes over HTTP exactly as
with executor pods.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("ember.backend")

LostCallback = Callable[[str, str], None]


def memory_env(conf: Mapping[str, str] | object | None) -> dict[str, str]:
    """The environment that gives an executor its memory: ``spark.executor.memory`` (default
    1g), ``spark.memory.fraction`` and ``spark.memory.storageFraction``.

    Values that are not sizes or numbers are refused here, before any executor starts, with a
    message naming the setting; the executor checks their ranges when it splits its heap.
    """
    from ember.core.conf import parse_bytes
    from ember.errors import IllegalArgumentException

    getter = getattr(conf, "get", None)

    def setting(key: str) -> str | None:
        value = getter(key) if getter is not None else None
        return str(value) if value else None

    heap = parse_bytes(setting("spark.executor.memory") or "1g", key="spark.executor.memory",
                       default_unit="m")
    env = {"EMBER_EXECUTOR_MEMORY": str(heap)}
    for key, name in (("spark.memory.fraction", "EMBER_MEMORY_FRACTION"),
                      ("spark.memory.storageFraction", "EMBER_MEMORY_STORAGE_FRACTION")):
        value = setting(key)
        if value is None:
            continue
        try:
            float(value)
        except ValueError:
            msg = f"{key} must be a number, got {value!r}\n\nuse e.g. 0.6"
            raise IllegalArgumentException(msg) from None
        env[name] = value
    return env


@dataclass
class ExecutorProcess:
    executor_id: str
    log_path: Path
    pid: int | None = None


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class LocalBackend:
    """Starts executors by asking a zygote process (``ember.executor.zygote``) to fork them."""

    def __init__(self, *, num_executors: int, cores: int, driver_url: str, app_id: str,
                 token: str, work_dir: Path, on_lost: LostCallback,
                 extra_env: dict[str, str] | None = None, max_replacements: int | None = None,
                 max_direct_result: int = 1 << 20,
                 conf: Mapping[str, str] | object | None = None) -> None:
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
        self.memory_env = memory_env(conf)
        self.replacements = 0
        self.procs: dict[str, ExecutorProcess] = {}
        self._ids = itertools.count(0)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._zygote: subprocess.Popen | None = None
        self._reader = threading.Thread(target=self._read_events, name="executor-monitor",
                                        daemon=True)

    def start(self) -> None:
        env = dict(os.environ)
        env.update(self.extra_env)
        # Arrow's own thread pools would oversubscribe the cores given to each executor.
        env["OMP_NUM_THREADS"] = str(self.cores)
        with open(self.work_dir / "zygote.log", "ab") as zygote_log:
            self._zygote = subprocess.Popen(
                [sys.executable, "-m", "ember.executor.zygote"], env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=zygote_log,
                start_new_session=True)
        self._reader.start()
        for _ in range(self.num_executors):
            self._spawn()

    def _send(self, command: dict) -> None:
        assert self._zygote is not None and self._zygote.stdin is not None
        try:
            self._zygote.stdin.write((json.dumps(command) + "\n").encode())
            self._zygote.stdin.flush()
        except (BrokenPipeError, ValueError):
            if not self._stopping.is_set():
                log.error("the executor launcher died; see %s", self.work_dir / "zygote.log")

    def _spawn(self) -> ExecutorProcess:
        executor_id = str(next(self._ids))
        local_dir = self.work_dir / f"executor-{executor_id}"
        local_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "EMBER_DRIVER_URL": self.driver_url,
            "EMBER_APP_ID": self.app_id,
            "EMBER_EXECUTOR_ID": executor_id,
            "EMBER_SECRET": self.token,
            "EMBER_EXECUTOR_CORES": str(self.cores),
            "EMBER_LOCAL_DIR": str(local_dir),
            "EMBER_MAX_DIRECT_RESULT": str(self.max_direct_result),
            **self.memory_env,
        }
        ep = ExecutorProcess(executor_id, self.work_dir / f"executor-{executor_id}.log")
        with self._lock:
            self.procs[executor_id] = ep
        self._send({"op": "spawn", "id": executor_id, "env": env, "log": str(ep.log_path)})
        return ep

    def _read_events(self) -> None:
        assert self._zygote is not None and self._zygote.stdout is not None
        for line in self._zygote.stdout:
            event = json.loads(line)
            kind = event.get("event")
            if kind == "spawned":
                with self._lock:
                    ep = self.procs.get(event["id"])
                    if ep is not None:
                        ep.pid = event["pid"]
            elif kind == "exited":
                self._exited(event["id"], event["code"])
        if not self._stopping.is_set():
            log.error("the executor launcher exited; see %s", self.work_dir / "zygote.log")

    def _exited(self, executor_id: str, code: int) -> None:
        with self._lock:
            ep = self.procs.pop(executor_id, None)
        if ep is None or self._stopping.is_set():
            return
        reason = _exit_reason(executor_id, code)
        tail = log_tail(ep.log_path)
        log.warning("%s%s", reason, f"\n{tail}" if tail else "")
        self.on_lost(executor_id, reason)
        if self.replacements < self.max_replacements:
            self.replacements += 1
            self._spawn()
        else:
            log.error("not replacing executor %s: %d replacements already", executor_id,
                      self.replacements)

    def kill_executor(self, executor_id: str) -> None:
        with self._lock:
            ep = self.procs.get(executor_id)
        if ep is not None and ep.pid is not None:
            try:
                os.kill(ep.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def pids(self) -> dict[str, int]:
        with self._lock:
            return {k: v.pid for k, v in self.procs.items() if v.pid is not None}

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        zygote = self._zygote
        if zygote is None:
            return
        # Closing its input makes the zygote stop every executor (SIGTERM, then SIGKILL).
        if zygote.stdin is not None:
            try:
                zygote.stdin.close()
            except BrokenPipeError:
                pass
        try:
            zygote.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for pid in self.pids().values():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            zygote.kill()
            zygote.wait()
        if self._reader.is_alive():
            self._reader.join(timeout=1)


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
