"""A pre-warmed parent for local executor processes.

Importing the executor (FastAPI, uvicorn, pyarrow, numpy) takes most of a second; doing it once
and forking each executor from a warm process makes ``local[N]`` sessions usable in about a
second, and replacement executors start in milliseconds. Each fork is an ordinary executor
process with its own HTTP server; only how it is started differs.

Protocol, one JSON object per line:

- in, on stdin: ``{"op": "spawn", "id": ..., "env": {...}, "log": path}`` and
  ``{"op": "kill", "id": ...}``; end of input stops every child and the zygote.
- out, on stdout: ``{"event": "ready"}``, ``{"event": "spawned", "id", "pid"}`` and
  ``{"event": "exited", "id", "pid", "code"}`` (a negative code is the signal that ended it).
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time


def _emit(event: dict) -> None:
    try:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass  # the driver is gone; the children are being stopped anyway


def _child(env: dict[str, str], log_path: str) -> None:
    try:
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDONLY)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(devnull, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(devnull)
        os.close(log_fd)
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        os.environ.update(env)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        from ember.executor.server import main

        main()
    finally:
        os._exit(1)


def run() -> None:
    from ember.executor import server

    server._die_with_parent()
    # Warm the modules every executor needs before the first fork.
    import aiohttp  # noqa: F401  (the shuffle client; imported late, it stalls a first job)

    # Acero (pyarrow's grouping and joins) loads pandas, a quarter second a process.
    import pyarrow.acero  # noqa: F401

    import ember.exec.join  # noqa: F401
    import ember.exec.scan  # noqa: F401
    import ember.exec.shuffle_fetch  # noqa: F401
    import ember.executor.block_manager  # noqa: F401
    import ember.executor.runner  # noqa: F401
    import ember.plan.physical  # noqa: F401  (every operator a task may run)

    children: dict[int, str] = {}
    _emit({"event": "ready"})
    buffer = b""
    stdin = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer
    closed = False
    while not closed:
        ready, _, _ = select.select([stdin], [], [], 0.05)
        if ready:
            chunk = os.read(stdin.fileno(), 65536)
            if not chunk:
                closed = True
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    _handle(json.loads(line), children)
        _reap(children)
    _stop_children(children)


def _handle(cmd: dict, children: dict[int, str]) -> None:
    if cmd.get("op") == "spawn":
        pid = os.fork()
        if pid == 0:
            _child(cmd["env"], cmd["log"])
        children[pid] = cmd["id"]
        _emit({"event": "spawned", "id": cmd["id"], "pid": pid})
    elif cmd.get("op") == "kill":
        for pid, executor_id in children.items():
            if executor_id == cmd["id"]:
                _signal(pid, signal.SIGKILL)


def _reap(children: dict[int, str]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        executor_id = children.pop(pid, None)
        if executor_id is not None:
            _emit({"event": "exited", "id": executor_id, "pid": pid,
                   "code": os.waitstatus_to_exitcode(status)})


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _stop_children(children: dict[int, str], grace: float = 3.0) -> None:
    for pid in children:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while children and time.monotonic() < deadline:
        _reap(children)
        time.sleep(0.02)
    for pid in children:
        _signal(pid, signal.SIGKILL)
    while children:
        _reap(children)
        time.sleep(0.01)


if __name__ == "__main__":
    run()
