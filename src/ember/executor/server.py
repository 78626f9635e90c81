"""The executor process: a FastAPI app on uvicorn that runs tasks and serves shuffle blocks.

Started by the local backend as ``python -m ember.executor`` or by the executor pod's
entrypoint. Everything it needs comes from the environment:

- ``EMBER_DRIVER_URL``, ``EMBER_APP_ID``, ``EMBER_EXECUTOR_ID``, ``EMBER_SECRET``
- ``EMBER_EXECUTOR_CORES`` (default 1), ``EMBER_LOCAL_DIR``
- ``EMBER_BIND_HOST`` (default 127.0.0.1) and ``POD_IP`` (the address to advertise)
"""

from __future__ import annotations

import ctypes
import hmac
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse

from ember import rpc
from ember.driver.server_socket import nodelay
from ember.exec.shuffle_files import block_location
from ember.executor.runner import BadTaskError, Executor

log = logging.getLogger("ember.executor")


def make_app(executor: Executor) -> FastAPI:
    app = FastAPI(title="ember executor", docs_url=None, redoc_url=None)

    def authorized(request: Request) -> None:
        header = request.headers.get("authorization", "")
        expected = f"Bearer {executor.token}"
        if not hmac.compare_digest(header.encode(), expected.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token")

    auth = [Depends(authorized)]

    @app.post("/tasks", dependencies=auth, status_code=202)
    async def launch(request: Request) -> dict:
        body = await request.body()
        try:
            task_id = executor.launch(body)
        except BadTaskError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return {"task_id": task_id, "accepted": True}

    @app.delete("/tasks/{task_id}", dependencies=auth)
    def kill(task_id: int) -> dict:
        return {"task_id": task_id, "found": executor.kill(task_id)}

    @app.get("/shuffle/{shuffle_id}/{map_id}/{reduce_id}", dependencies=auth)
    def shuffle_block(shuffle_id: int, map_id: int, reduce_id: int,
                      end: int | None = None) -> Response:
        try:
            path, offset, length = block_location(executor.local_dir, shuffle_id, map_id,
                                                  reduce_id, end)
        except FileNotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        except (IndexError, ValueError) as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        return Response(content=data, media_type="application/vnd.apache.arrow.stream")

    @app.get("/blocks/{block_id}", dependencies=auth)
    def block(block_id: str) -> Response:
        data = executor.pop_block(block_id)
        if data is None:
            raise HTTPException(status_code=404, detail=f"no block {block_id} on this executor")
        return Response(content=data, media_type="application/vnd.apache.arrow.stream")

    @app.delete("/shuffle/{shuffle_id}", dependencies=auth)
    def remove(shuffle_id: int) -> dict:
        return {"removed_files": executor.remove_shuffle(shuffle_id)}

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "executor_id": executor.executor_id}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        m = executor.metrics
        lines = []
        for name, value in (("tasks_started_total", m.tasks_started),
                            ("tasks_succeeded_total", m.tasks_succeeded),
                            ("tasks_failed_total", m.tasks_failed),
                            ("active_tasks", m.active_tasks),
                            ("shuffle_write_bytes_total", m.shuffle_write_bytes),
                            ("shuffle_read_remote_bytes_total", m.shuffle_read_remote_bytes),
                            ("shuffle_read_local_bytes_total", m.shuffle_read_local_bytes)):
            lines.append(f'ember_executor_{name}{{executor_id="{executor.executor_id}"}} {value}')
        return "\n".join(lines) + "\n"

    return app


def _die_with_parent() -> None:
    """On Linux, ask the kernel to kill this process when its parent exits."""
    if sys.platform != "linux" or os.environ.get("EMBER_KEEP_ORPHAN"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() == 1:
            os._exit(0)
    except OSError:
        pass


def _register_and_heartbeat(executor: Executor, server: uvicorn.Server, app_id: str,
                            interval: float, timeout: float) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.005)
    payload = {"executor_id": executor.executor_id, "address": executor.address,
               "cores": executor.cores, "pid": os.getpid(), "app_id": app_id}
    deadline = time.monotonic() + timeout
    while True:
        try:
            rpc.post_json(f"{executor.driver_url}/executors", payload, token=executor.token)
            break
        except rpc.RpcError as exc:
            # The driver may still be starting its server; anything but a refusal is retried.
            if exc.status is not None or time.monotonic() > deadline:
                log.error("could not register with the driver at %s: %s", executor.driver_url,
                          exc)
                server.should_exit = True
                return
            time.sleep(0.02)
    last_ok = time.monotonic()
    url = f"{executor.driver_url}/executors/{executor.executor_id}/heartbeat"
    while not server.should_exit:
        time.sleep(interval)
        try:
            rpc.post_json(url, {"running_tasks": executor.running_tasks()},
                          token=executor.token, timeout=timeout)
            last_ok = time.monotonic()
        except rpc.RpcError as exc:
            if exc.status == 404 or time.monotonic() - last_ok > timeout:
                log.error("the driver no longer knows this executor (%s); exiting", exc)
                server.should_exit = True
                return


def main() -> None:
    logging.basicConfig(level=os.environ.get("EMBER_LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _die_with_parent()
    env = os.environ
    missing = [k for k in ("EMBER_DRIVER_URL", "EMBER_EXECUTOR_ID", "EMBER_SECRET") if not env.get(k)]
    if missing:
        print(f"ember executor: missing environment variables {missing}\n\n"
              "executors are started by the driver, which sets them", file=sys.stderr)
        sys.exit(2)
    executor_id = env["EMBER_EXECUTOR_ID"]
    local_dir = Path(env.get("EMBER_LOCAL_DIR") or tempfile.mkdtemp(prefix=f"ember-{executor_id}-"))
    executor = Executor(executor_id=executor_id, driver_url=env["EMBER_DRIVER_URL"],
                        token=env["EMBER_SECRET"], cores=int(env.get("EMBER_EXECUTOR_CORES", "1")),
                        local_dir=local_dir,
                        max_direct_result=int(env.get("EMBER_MAX_DIRECT_RESULT", str(1 << 20))))
    bind = env.get("EMBER_BIND_HOST", "127.0.0.1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    nodelay(sock)
    sock.bind((bind, int(env.get("EMBER_EXECUTOR_PORT", "0"))))
    advertise = env.get("POD_IP") or ("127.0.0.1" if bind in {"0.0.0.0", ""} else bind)
    executor.address = f"http://{advertise}:{sock.getsockname()[1]}"
    config = uvicorn.Config(make_app(executor), log_level="warning", access_log=False,
                            lifespan="off", timeout_keep_alive=60)
    server = uvicorn.Server(config)
    interval = float(env.get("EMBER_HEARTBEAT_INTERVAL", "2"))
    timeout = float(env.get("EMBER_NETWORK_TIMEOUT", "30"))
    threading.Thread(target=_register_and_heartbeat, name="heartbeat", daemon=True,
                     args=(executor, server, env.get("EMBER_APP_ID", ""), interval,
                           timeout)).start()
    try:
        server.run(sockets=[sock])
    finally:
        executor.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
