"""A local Kubernetes API emulator for development and tests, built on kmock's ``KubernetesEmulator``.

It is not a real API server: it keeps objects in memory and implements the behaviours that the
kubernetes Python client, kopf and kubectl rely on (object metadata, selectors, watches, patches,
status subresources, CRDs with schema validation and printer columns, garbage collection,
finalizers, events and pod logs). Plain ``http`` on 127.0.0.1, no authentication.

The handle::

    from ember.localkube import emulator

    kube = emulator.start(port=0, kubeconfig="/tmp/kubeconfig")  # returns when it is serving
    kube.url          # "http://127.0.0.1:PORT"
    kube.port         # the bound port
    kube.kubeconfig   # pathlib.Path of a kubeconfig for kubectl, kopf and the kubernetes client
    kube.store        # the in-memory store (touch it only through kube.call(...))
    kube.call(fn, *args)   # run fn(*args) on the emulator's loop and return its result
    kube.stop()       # stop serving; open watches end

``start`` also works as a context manager (``with emulator.start() as kube: ...``).

Pod logs (``GET .../pods/NAME/log``) come from ``log_source(namespace, pod, container)``, a callable
returning the whole log text captured so far (the process kubelet provides it; by default logs are
empty). It may be given to ``start`` or set later with ``kube.set_log_source(fn)``.

Faults can be injected with kmock's DSL on ``kube.emulator``: ``kube.emulator['post /api/v1/namespaces/
default/pods'][:1] << 503`` fails the next pod creation; the store answers everything else.

Not supported: protobuf request bodies (typed ``kubectl create <built-in>`` and ``kubectl run``;
``kubectl apply`` works), server-side apply, authentication and authorization.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import pathlib
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import aiohttp.web
import attrs
import yaml
from kmock import KubernetesEmulator, KubernetesError
from kmock._internal import rendering

from ember.localkube import selectors, tables
from ember.localkube.resources import Catalogue, ResourceType
from ember.localkube.store import Store, api_error

logger = logging.getLogger(__name__)

LogSource = Callable[[str, str, "str | None"], str]
LOG_POLL_SECONDS = 0.1
FINISHED_PHASES = ("Succeeded", "Failed")


def _no_logs(namespace: str, pod: str, container: str | None) -> str:
    return ""


@attrs.define(kw_only=True)
class Emulator(KubernetesEmulator):
    """kmock's emulator with the API server semantics of :mod:`ember.localkube.store`.

    Requests under ``/api`` and ``/apis`` are served from the store; everything else (``/version``,
    ``/``, unknown URLs) goes through kmock's scaffold and reactions.
    """

    validate_builtins: bool = True
    log_source: LogSource = _no_logs
    catalogue: Catalogue = attrs.field(factory=Catalogue)
    store: Store = attrs.field(init=False)
    stopping: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.store = Store(self.catalogue, validate_builtins=self.validate_builtins)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        path = raw_request.path
        if path.startswith("/openapi/v3"):
            try:
                return _json(self._openapi_v3(path))
            except KubernetesError as error:
                return self._status(error)
        if path == "/api" or path.startswith(("/api/", "/apis")):
            injected = await self._serve_injected(raw_request)
            if injected is not None:
                return injected
            try:
                return await self._serve_api_request(raw_request)
            except KubernetesError as error:
                return self._status(error)
            except (ConnectionResetError, asyncio.CancelledError):
                raise
            except Exception as error:  # a bug here must not take the server down
                logger.exception("emulator failed to serve %s %s", raw_request.method, path)
                return self._status(api_error(500, "InternalError", repr(error)))
        return await super().__call__(raw_request)

    async def _serve_injected(
        self, raw_request: aiohttp.web.BaseRequest
    ) -> aiohttp.web.StreamResponse | None:
        """Serve a reaction that a test added with kmock's DSL.

        For example ``kube.emulator['get /api/v1/pods'][:1] << 500`` fails the next pod listing.
        Only reactions above kmock's own fallbacks count; without any, the store answers.
        """
        reactions = [p for p in self._payloads if not (p.priorities and p.priorities[0] == -math.inf)]
        if not reactions:
            return None
        try:
            request = await rendering.Request._parse(raw_request, id=len(self._requests))
        except Exception:  # kmock cannot parse every Kubernetes path; those are not injectable
            return None
        self._requests.append(request)  # kmock's views select reactions among the recorded requests
        reactions.sort(key=lambda p: tuple(-x for x in p.priorities))
        for reaction in reactions:
            if request in reaction._source and not reaction._disabled.is_set():
                try:
                    return await reaction(request)
                except rendering.ReactionMismatchError:
                    reaction._disabled.set()
                except NotImplementedError:
                    pass
        return None

    @staticmethod
    def _status(error: KubernetesError) -> aiohttp.web.Response:
        return aiohttp.web.json_response(
            {
                "apiVersion": "v1",
                "kind": "Status",
                "metadata": {},
                "status": "Failure",
                "code": error.status,
                "reason": error.reason,
                "message": error.message,
                "details": error.details or {},
            },
            status=error.status,
        )

    # -- routing ---------------------------------------------------------------------------------

    async def _serve_api_request(self, request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        parts = [part for part in request.path.split("/") if part]
        if parts[0] == "api":
            if len(parts) == 1:
                return _json(
                    {
                        "kind": "APIVersions",
                        "versions": ["v1"],
                        "serverAddressByClientCIDRs": [
                            {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}
                        ],
                    }
                )
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                return _json(self._group_list())
            if len(parts) == 2:
                return _json(self._group(parts[1]))
            group, version, rest = parts[1], parts[2], parts[3:]
        if not rest:
            return _json(self._resource_list(group, version))
        if request.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise api_error(
                405, "MethodNotAllowed", f"the server does not allow this method: {request.method}"
            )

        namespace: str | None = None
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (group == "" and rest[2] in ("status", "finalize"))
        ):
            namespace, rest = rest[1], rest[2:]
        rt = self.catalogue.get(group, version, rest[0])
        if rt is None or (namespace is not None and not rt.namespaced):
            raise api_error(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        subresource = "/".join(rest[2:]) or None
        if rt.namespaced and name is not None and namespace is None:
            raise api_error(404, "NotFound", "the server could not find the requested resource")
        return await self._serve_resource(request, rt, namespace, name, subresource)

    async def _serve_resource(
        self,
        request: aiohttp.web.BaseRequest,
        rt: ResourceType,
        namespace: str | None,
        name: str | None,
        subresource: str | None,
    ) -> aiohttp.web.StreamResponse:
        query = request.query
        method = request.method
        store = self.store
        if subresource == "log" and rt.key == ("", "v1", "pods") and method == "GET" and name:
            return await self._serve_log(request, rt, namespace or "default", name)
        if subresource not in (None, "status") or (subresource == "status" and not rt.status_subresource):
            raise api_error(404, "NotFound", "the server could not find the requested resource")
        if method == "GET" and (query.get("watch") in ("true", "1") or query.get("watch") == ""):
            return await self._serve_watch_stream(request, rt, namespace, name)
        if method == "GET" and name is None:
            matches = _matcher(query)
            items = store.list(rt, namespace, matches)
            if tables.wants_table(request.headers.get("Accept", "")):
                return _json(tables.to_table(rt, items, store.resource_version))
            return _json(
                {
                    "apiVersion": rt.api_version,
                    "kind": f"{rt.kind}List",
                    "metadata": {"resourceVersion": store.resource_version},
                    "items": items,
                }
            )
        if method == "GET":
            assert name is not None
            obj = store.get(rt, namespace, name)
            if tables.wants_table(request.headers.get("Accept", "")):
                return _json(tables.to_table(rt, [obj], store.resource_version))
            return _json(obj)
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            # Read the body first: inside the dry-run block nothing may await another request.
            await request.read()
            with store.dry_run(bool(query.get("dryRun"))):
                return await self._serve_write(request, rt, namespace, name, subresource)
        raise api_error(
            405,
            "MethodNotAllowed",
            f"the server does not allow this method on the requested resource: {method}",
        )

    async def _serve_write(
        self,
        request: aiohttp.web.BaseRequest,
        rt: ResourceType,
        namespace: str | None,
        name: str | None,
        subresource: str | None,
    ) -> aiohttp.web.StreamResponse:
        query = request.query
        method = request.method
        store = self.store
        if method == "POST" and name is None:
            return _json(store.create(rt, namespace, await _body(request)), status=201)
        if method == "PUT" and name is not None:
            return _json(store.replace(rt, namespace, name, await _body(request), subresource=subresource))
        if method == "PATCH" and name is not None:
            content_type = request.headers.get("Content-Type", "application/merge-patch+json")
            if "apply-patch" in content_type:
                raise api_error(
                    415, "UnsupportedMediaType", "server-side apply is not supported by this emulator"
                )
            return _json(
                store.patch(rt, namespace, name, await _body(request), content_type, subresource=subresource)
            )
        if method == "DELETE" and name is not None:
            options = await _body(request, optional=True) or {}
            propagation = query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
            grace_text = query.get("gracePeriodSeconds") or options.get("gracePeriodSeconds")
            try:
                grace = int(grace_text) if grace_text is not None else None
            except ValueError:
                raise api_error(400, "BadRequest", "invalid gracePeriodSeconds") from None
            return _json(store.delete(rt, namespace, name, propagation=propagation, grace_seconds=grace))
        if method == "DELETE":
            deleted = [
                store.delete(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"])
                for obj in store.list(rt, namespace, _matcher(query))
            ]
            return _json(
                {
                    "apiVersion": rt.api_version,
                    "kind": f"{rt.kind}List",
                    "metadata": {"resourceVersion": store.resource_version},
                    "items": deleted,
                }
            )
        raise api_error(
            405,
            "MethodNotAllowed",
            f"the server does not allow this method on the requested resource: {method}",
        )

    # -- discovery -------------------------------------------------------------------------------

    def _group(self, group: str) -> dict[str, Any]:
        versions = self.catalogue.groups().get(group)
        if not versions:
            raise api_error(404, "NotFound", "the server could not find the requested resource")
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def _group_list(self) -> dict[str, Any]:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self._group(group) for group in self.catalogue.groups()],
        }

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        types = [rt for rt in self.catalogue.all() if (rt.group, rt.version) == (group, version)]
        if not types:
            raise api_error(404, "NotFound", "the server could not find the requested resource")
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [entry for rt in types for entry in rt.discovery_entries()],
        }

    def _openapi_v3(self, path: str) -> dict[str, Any]:
        """A skeleton OpenAPI v3: enough for kubectl to see that the server validates fields itself.

        Each PATCH operation declares the ``fieldValidation`` query parameter; kubectl then leaves
        validation to the server instead of downloading full schemas.
        """
        versions = {(rt.group, rt.version) for rt in self.catalogue.all()}

        def prefix(group: str, version: str) -> str:
            return f"apis/{group}/{version}" if group else f"api/{version}"

        if path.rstrip("/") == "/openapi/v3":
            return {
                "paths": {
                    prefix(g, v): {"serverRelativeURL": f"/openapi/v3/{prefix(g, v)}"}
                    for g, v in sorted(versions)
                }
            }
        wanted = path[len("/openapi/v3/") :].strip("/")
        types = [rt for rt in self.catalogue.all() if prefix(rt.group, rt.version) == wanted]
        if not types:
            raise api_error(404, "NotFound", "the server could not find the requested resource")
        paths = {}
        for rt in types:
            scope = "/namespaces/{namespace}" if rt.namespaced else ""
            operation = {
                "x-kubernetes-group-version-kind": {
                    "group": rt.group,
                    "version": rt.version,
                    "kind": rt.kind,
                },
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}},
            }
            paths[f"/{wanted}{scope}/{rt.plural}/{{name}}"] = {"patch": operation}
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths,
            "components": {"schemas": {}},
        }

    # -- streams ---------------------------------------------------------------------------------

    async def _serve_watch_stream(
        self, request: aiohttp.web.BaseRequest, rt: ResourceType, namespace: str | None, name: str | None
    ) -> aiohttp.web.StreamResponse:
        query = request.query
        matches = _matcher(query)
        if name is not None:
            by_name, matches = matches, (lambda obj: obj["metadata"]["name"] == name and by_name(obj))
        since_text = query.get("resourceVersion") or ""
        try:
            since = int(since_text) if since_text not in ("", "0") else None
        except ValueError:
            raise api_error(400, "BadRequest", f"invalid resourceVersion: {since_text!r}") from None
        try:
            timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        except ValueError:
            raise api_error(400, "BadRequest", "invalid timeoutSeconds") from None
        as_table = tables.wants_table(request.headers.get("Accept", ""))

        def encode(kind: str, obj: dict[str, Any]) -> bytes:
            # kubectl get --watch asks for Table rows in the events, as for the initial listing.
            if as_table:
                obj = tables.to_table(rt, [obj], obj["metadata"].get("resourceVersion", ""))
            return _event(kind, obj)

        watcher, backlog = self.store.subscribe(rt, namespace, matches, since=since)
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout is not None else None
        try:
            await response.prepare(request)
            for kind, obj in backlog:
                await response.write(encode(kind, obj))
            while not self.stopping.is_set():
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                try:
                    kind, obj = await asyncio.wait_for(
                        watcher.queue.get(), timeout=min(remaining or 1.0, 1.0)
                    )
                except TimeoutError:
                    continue
                await response.write(encode(kind, obj))
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self.store.unsubscribe(watcher)
        return response

    async def _serve_log(
        self, request: aiohttp.web.BaseRequest, rt: ResourceType, namespace: str, name: str
    ) -> aiohttp.web.StreamResponse:
        pod = self.store.get(rt, namespace, name)
        container = request.query.get("container")
        follow = request.query.get("follow") in ("true", "1")
        tail_text = request.query.get("tailLines")
        try:
            tail = int(tail_text) if tail_text else None
        except ValueError:
            raise api_error(400, "BadRequest", "invalid tailLines") from None
        text = self.log_source(namespace, name, container) or ""
        if tail is not None:
            lines = text.splitlines(keepends=True)
            shown = "".join(lines[-tail:]) if tail > 0 else ""
        else:
            shown = text
        if not follow:
            return aiohttp.web.Response(text=shown, content_type="text/plain")
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            await response.write(shown.encode())
            sent = len(text)
            while not self.stopping.is_set():
                await asyncio.sleep(LOG_POLL_SECONDS)
                text = self.log_source(namespace, name, container) or ""
                if len(text) > sent:
                    await response.write(text[sent:].encode())
                    sent = len(text)
                try:
                    pod = self.store.get(rt, namespace, name)
                except KubernetesError:
                    break
                if (pod.get("status") or {}).get("phase") in FINISHED_PHASES:
                    text = self.log_source(namespace, name, container) or ""
                    await response.write(text[sent:].encode())
                    break
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        return response


def _json(payload: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.json_response(payload, status=status)


def _event(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def _matcher(query: Any) -> selectors.Matcher:
    try:
        labels = selectors.parse_label_selector(query.get("labelSelector"))
        fields = selectors.parse_field_selector(query.get("fieldSelector"))
    except selectors.SelectorError as error:
        raise api_error(400, "BadRequest", str(error)) from None
    return lambda obj: labels(obj) and fields(obj)


async def _body(request: aiohttp.web.BaseRequest, *, optional: bool = False) -> Any:
    content_type = request.headers.get("Content-Type", "")
    if "protobuf" in content_type or "cbor" in content_type:
        # Clients (kubectl among them) fall back to JSON when the server refuses their binary encoding.
        raise api_error(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - "
            f"accepted media types include: application/json, "
            f"application/yaml (got {content_type})",
        )
    raw = await request.read()
    if not raw.strip():
        if optional:
            return None
        raise api_error(400, "BadRequest", "the request body is empty")
    try:
        if "yaml" in request.headers.get("Content-Type", ""):
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as error:
        raise api_error(400, "BadRequest", f"the request body is not valid JSON or YAML: {error}") from None


# -- the in-process handle -----------------------------------------------------------------------


def kubeconfig_text(url: str, *, namespace: str = "default") -> str:
    """A kubeconfig for the emulator at ``url``, usable by kubectl, kopf and the kubernetes client."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "ember-local", "cluster": {"server": url}}],
        "users": [{"name": "ember-local", "user": {"token": "ember-local"}}],  # any token is accepted
        "contexts": [
            {
                "name": "ember-local",
                "context": {"cluster": "ember-local", "user": "ember-local", "namespace": namespace},
            }
        ],
        "current-context": "ember-local",
    }
    return yaml.safe_dump(config, sort_keys=False)


class LocalKube:
    """A running emulator on its own event loop in a background thread. Create it with :func:`start`."""

    def __init__(self, emulator: Emulator, *, host: str, port: int, kubeconfig: pathlib.Path) -> None:
        self.emulator = emulator
        self.host = host
        self.requested_port = port
        self.kubeconfig = kubeconfig
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._runner: aiohttp.web.BaseRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="ember-localkube", daemon=True)
        self._stopped = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def store(self) -> Store:
        return self.emulator.store

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the emulator's loop (where the store lives) and return the result."""

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result()

    def set_log_source(self, source: LogSource) -> None:
        self.emulator.log_source = source

    def _start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(timeout=30)
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.write_text(kubeconfig_text(self.url))

    async def _serve(self) -> None:
        await self.emulator.__aenter__()
        server = aiohttp.web.Server(self.emulator)
        self._runner = aiohttp.web.ServerRunner(server, shutdown_timeout=1.0)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, self.host, self.requested_port)
        await site.start()
        sockets = getattr(server, "sockets", None) or site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        self.emulator.stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
        with contextlib.suppress(Exception):
            await self.emulator.__aexit__(None, None, None)

    def stop(self) -> None:
        """Stop serving and end the background thread; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> LocalKube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    kubeconfig: str | pathlib.Path | None = None,
    log_source: LogSource | None = None,
    validate_builtins: bool = True,
) -> LocalKube:
    """Start an emulator in a background thread; return its handle once it is serving.

    ``port=0`` picks a free port. Without ``kubeconfig`` a file in a fresh temporary directory is used.
    """
    if kubeconfig is None:
        kubeconfig = pathlib.Path(tempfile.mkdtemp(prefix="ember-localkube-")) / "kubeconfig"
    emulator = Emulator(validate_builtins=validate_builtins, log_source=log_source or _no_logs)
    handle = LocalKube(emulator, host=host, port=port, kubeconfig=pathlib.Path(kubeconfig))
    handle._start()
    return handle
