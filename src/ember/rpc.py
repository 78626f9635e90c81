"""A small blocking HTTP client for control messages between driver and executors.

Control messages are JSON; task payloads are cloudpickle bytes. Connections are kept alive per
thread and per host, so launching a task costs one request on an open socket.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

_local = threading.local()


class RpcError(Exception):
    """A request failed: the peer is unreachable or answered with an error status."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Connection(http.client.HTTPConnection):
    """Keep-alive connection with Nagle's algorithm off: small requests and replies on a
    reused socket otherwise wait ~40 ms for delayed ACKs."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _connection(netloc: str, timeout: float) -> http.client.HTTPConnection:
    pool: dict[str, http.client.HTTPConnection] = getattr(_local, "pool", None) or {}
    _local.pool = pool
    conn = pool.get(netloc)
    if conn is None:
        host, _, port = netloc.rpartition(":")
        conn = _Connection(host, int(port), timeout=timeout)
        pool[netloc] = conn
    conn.timeout = timeout
    return conn


def _drop(netloc: str) -> None:
    pool = getattr(_local, "pool", {})
    conn = pool.pop(netloc, None)
    if conn is not None:
        conn.close()


def request(method: str, url: str, *, token: str, body: bytes | None = None,
            content_type: str = "application/json", timeout: float = 30.0) -> bytes:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    for attempt in range(2):
        conn = _connection(parts.netloc, timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            _drop(parts.netloc)
            # A kept-alive socket the server closed fails once; retry on a fresh one.
            if attempt == 0 and isinstance(exc, http.client.RemoteDisconnected | BrokenPipeError
                                           | ConnectionResetError):
                continue
            msg = f"{method} {url} failed: {exc}"
            raise RpcError(msg) from exc
        if resp.status >= 400:
            msg = f"{method} {url} answered {resp.status}: {data[:500].decode(errors='replace')}"
            raise RpcError(msg, status=resp.status)
        return data
    msg = f"{method} {url} failed"
    raise RpcError(msg)


def post_json(url: str, payload: Any, *, token: str, timeout: float = 30.0) -> Any:
    data = request("POST", url, token=token, body=json.dumps(payload).encode(), timeout=timeout)
    return json.loads(data) if data else None


def get_json(url: str, *, token: str, timeout: float = 30.0) -> Any:
    return json.loads(request("GET", url, token=token, timeout=timeout))


def close_all() -> None:
    for netloc in list(getattr(_local, "pool", {})):
        _drop(netloc)
