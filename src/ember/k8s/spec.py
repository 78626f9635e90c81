"""The semantics of a SparkApplication spec that its CRD schema cannot state, and a typed view of it.

The schema refuses wrong types and unknown enum values at ``kubectl apply``. What it cannot say
(a memory size that parses and leaves room for Spark's reserved heap, a CPU quantity, a main file
the driver can run, ``minExecutors <= initialExecutors <= maxExecutors``) is checked here, so the
operator can fail a submission with the path of the offending field.

>>> app = {"metadata": {"name": "pi"}, "spec": {"type": "Python", "image": "ember:dev",
...        "mainApplicationFile": "local:///opt/ember/examples/pi.py",
...        "executor": {"memory": "256m"}}}
>>> try:
...     validate(app)
... except SpecError as e:
...     print(e.field)
spec.executor.memory
>>> AppSpec.from_app(app).restart_policy.type
'Never'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ember.errors import IllegalArgumentException
from ember.k8s import resources

__all__ = [
    "SpecError", "validate", "AppSpec", "RoleSpec", "RestartPolicy", "DynamicAllocation",
    "RESERVED_ENV", "overhead_factor",
]

#: Environment variables the operator sets on the driver; a spec may not set them itself.
RESERVED_ENV = frozenset({
    "EMBER_CONF_DIR", "EMBER_SECRET", "EMBER_APP_ID", "EMBER_APP_NAME", "EMBER_SUBMISSION_ID",
    "EMBER_LOCAL_DIR", "POD_NAME", "POD_NAMESPACE", "POD_IP",
})

_CPU = re.compile(r"(\d+(\.\d+)?|\.\d+)m?")
_LOCAL_SCHEME = "local://"


class SpecError(IllegalArgumentException):
    """A SparkApplication field has a value ember cannot run; ``field`` is its path in the object."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


# -- the typed view ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestartPolicy:
    """``spec.restartPolicy`` with its defaults; intervals are seconds."""

    type: str = "Never"
    on_failure_retries: int = 0
    on_failure_retry_interval: int = 5
    on_submission_failure_retries: int = 0
    on_submission_failure_retry_interval: int = 5


@dataclass(frozen=True)
class DynamicAllocation:
    """``spec.dynamicAllocation``; ``None`` means the spec leaves that bound to Spark's default."""

    enabled: bool = False
    initial_executors: int | None = None
    min_executors: int | None = None
    max_executors: int | None = None


@dataclass(frozen=True)
class RoleSpec:
    """``spec.driver`` or ``spec.executor`` with defaults; ``instances`` matters for executors."""

    cores: float = 1
    memory: str = "1g"
    memory_overhead: str | None = None
    core_limit: str | None = None
    instances: int = 1
    service_account: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    env: Sequence[Mapping[str, Any]] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    volume_mounts: Sequence[Mapping[str, Any]] = ()

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> RoleSpec:
        overhead = spec.get("memoryOverhead")
        return cls(
            cores=spec.get("cores", 1),
            memory=_size_text(spec.get("memory", "1g")),
            memory_overhead=None if overhead is None else _size_text(overhead),
            core_limit=spec.get("coreLimit"),
            instances=spec.get("instances", 1),
            service_account=spec.get("serviceAccount"),
            labels=dict(spec.get("labels") or {}),
            annotations=dict(spec.get("annotations") or {}),
            env=tuple(spec.get("env") or ()),
            node_selector=dict(spec.get("nodeSelector") or {}),
            tolerations=tuple(spec.get("tolerations") or ()),
            volume_mounts=tuple(spec.get("volumeMounts") or ()),
        )


@dataclass(frozen=True)
class AppSpec:
    """A SparkApplication's spec with every default filled in, as the operator reads it."""

    name: str
    namespace: str
    uid: str
    image: str
    main_application_file: str
    type: str = "Python"
    mode: str = "cluster"
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: Sequence[str] = ()
    arguments: Sequence[str] = ()
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    driver: RoleSpec = RoleSpec()
    executor: RoleSpec = RoleSpec()
    volumes: Sequence[Mapping[str, Any]] = ()
    restart_policy: RestartPolicy = RestartPolicy()
    time_to_live_seconds: int | None = None
    dynamic_allocation: DynamicAllocation = DynamicAllocation()

    @classmethod
    def from_app(cls, app: Mapping[str, Any]) -> AppSpec:
        """The typed view of a SparkApplication given as a plain dict."""
        meta = app.get("metadata") or {}
        spec = app.get("spec") or {}
        policy = spec.get("restartPolicy") or {}
        dynamic = spec.get("dynamicAllocation") or {}
        return cls(
            name=meta.get("name", ""),
            namespace=meta.get("namespace", "default"),
            uid=meta.get("uid", ""),
            image=spec.get("image", ""),
            main_application_file=spec.get("mainApplicationFile", ""),
            type=spec.get("type", "Python"),
            mode=spec.get("mode", "cluster"),
            image_pull_policy=spec.get("imagePullPolicy") or "IfNotPresent",
            image_pull_secrets=tuple(spec.get("imagePullSecrets") or ()),
            arguments=tuple(str(a) for a in spec.get("arguments") or ()),
            spark_conf=dict(spec.get("sparkConf") or {}),
            driver=RoleSpec.from_spec(spec.get("driver") or {}),
            executor=RoleSpec.from_spec(spec.get("executor") or {}),
            volumes=tuple(spec.get("volumes") or ()),
            restart_policy=RestartPolicy(
                type=policy.get("type", "Never"),
                on_failure_retries=policy.get("onFailureRetries", 0),
                on_failure_retry_interval=policy.get("onFailureRetryInterval", 5),
                on_submission_failure_retries=policy.get("onSubmissionFailureRetries", 0),
                on_submission_failure_retry_interval=policy.get(
                    "onSubmissionFailureRetryInterval", 5),
            ),
            time_to_live_seconds=spec.get("timeToLiveSeconds"),
            dynamic_allocation=DynamicAllocation(
                enabled=bool(dynamic.get("enabled", False)),
                initial_executors=dynamic.get("initialExecutors"),
                min_executors=dynamic.get("minExecutors"),
                max_executors=dynamic.get("maxExecutors"),
            ),
        )


def overhead_factor(spec: AppSpec, *, role: str) -> float:
    """``spark.<role>.memoryOverheadFactor`` from the spec's sparkConf (default 0.1)."""
    value = spec.spark_conf.get(f"spark.{role}.memoryOverheadFactor")
    return resources.DEFAULT_OVERHEAD_FACTOR if value is None else float(value)


def _size_text(value: str | int) -> str:
    # A bare number is MiB, as in Spark; keep it explicit so conf and pod agree.
    return f"{value}m" if isinstance(value, int) else str(value)


# -- validation ----------------------------------------------------------------------------------


def validate(app: Mapping[str, Any]) -> None:
    """Raise ``SpecError`` for the first field of ``app`` (a SparkApplication dict) ember cannot run.

    >>> validate({"spec": {"type": "Python", "image": "ember:dev",
    ...                    "mainApplicationFile": "/app/main.py"}})
    """
    spec = app.get("spec") or {}
    _check_kind(spec)
    _check_main_file(spec.get("mainApplicationFile"))
    for role in ("driver", "executor"):
        _check_role(spec.get(role) or {}, role=role, conf=spec.get("sparkConf") or {})
    _check_instances((spec.get("executor") or {}).get("instances", 1))
    _check_dynamic_allocation(spec.get("dynamicAllocation") or {})
    _check_spark_conf(spec.get("sparkConf") or {})
    _check_restart_policy(spec.get("restartPolicy") or {})
    ttl = spec.get("timeToLiveSeconds")
    if ttl is not None:
        _check_int(ttl, "spec.timeToLiveSeconds", minimum=0)


def _fail(where: str, problem: str, fix: str) -> SpecError:
    return SpecError(f"{where}: {problem}\n\n{fix}", field=where)


def _check_kind(spec: Mapping[str, Any]) -> None:
    if spec.get("type") != "Python":
        raise _fail("spec.type", f"ember runs Python applications only, got {spec.get('type')!r}",
                    "set spec.type to Python")
    if spec.get("mode", "cluster") != "cluster":
        raise _fail("spec.mode", f"only cluster mode is supported, got {spec.get('mode')!r}",
                    "set spec.mode to cluster or leave it out")
    image = spec.get("image")
    if not isinstance(image, str) or not image.strip():
        raise _fail("spec.image", "no container image is given",
                    "set spec.image to an ember image, e.g. ember:latest")


def _check_main_file(value: Any) -> None:
    where = "spec.mainApplicationFile"
    fix = ("use local:///path/in/image.py for a file in the image, or an absolute path such as "
           "/etc/app/main.py for one mounted from a volume")
    if not isinstance(value, str) or not value:
        raise _fail(where, "no main application file is given", fix)
    path = value[len(_LOCAL_SCHEME):] if value.startswith(_LOCAL_SCHEME) else value
    if not path.startswith("/"):
        raise _fail(where, f"{value!r} is neither local:///absolute/path nor an absolute path", fix)
    if not path.endswith(".py"):
        raise _fail(where, f"{value!r} is not a Python file (.py)", fix)


def _check_role(role_spec: Mapping[str, Any], *, role: str, conf: Mapping[str, Any]) -> None:
    where = f"spec.{role}"
    cores = role_spec.get("cores", 1)
    if isinstance(cores, bool) or not isinstance(cores, int | float) or cores <= 0:
        raise _fail(f"{where}.cores", f"cores must be a number above 0, got {cores!r}",
                    f"set {where}.cores to e.g. 1")
    limit = role_spec.get("coreLimit")
    if limit is not None and (not isinstance(limit, str) or not _CPU.fullmatch(limit)
                              or float(limit.rstrip("m") or 0) == 0):
        raise _fail(f"{where}.coreLimit", f"{limit!r} is not a CPU quantity",
                    f"set {where}.coreLimit to cores such as 2 or millicores such as 2500m")
    if limit is not None and _millicores(limit) < cores * 1000:
        raise _fail(f"{where}.coreLimit", f"the limit {limit} is below the {cores} cores asked for",
                    f"raise {where}.coreLimit to at least {resources.cpu_quantity(cores)}")
    memory = role_spec.get("memory", "1g")
    try:
        resources.pod_resources(role=role, cores=cores, memory=_size_text(memory),
                                field=f"{where}.memory")
    except IllegalArgumentException as e:
        raise SpecError(str(e), field=f"{where}.memory") from None
    overhead = role_spec.get("memoryOverhead")
    if overhead is not None:
        try:
            size = resources.size_bytes(overhead, field=f"{where}.memoryOverhead")
        except IllegalArgumentException as e:
            raise SpecError(str(e), field=f"{where}.memoryOverhead") from None
        if size < 0:
            raise _fail(f"{where}.memoryOverhead", f"{overhead!r} is negative",
                        f"set {where}.memoryOverhead to e.g. 512m, or leave it out")
    key = f"spark.{role}.memoryOverheadFactor"
    if key in conf:
        try:
            ok = float(conf[key]) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise _fail(f"spec.sparkConf[{key}]", f"{conf[key]!r} is not a non-negative number",
                        f"set {key} to a fraction such as 0.1")
    for i, var in enumerate(role_spec.get("env") or ()):
        if isinstance(var, Mapping) and var.get("name") in RESERVED_ENV:
            raise _fail(f"{where}.env[{i}].name", f"{var['name']} is set by the operator",
                        "remove it from the spec, or use another name")


def _millicores(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


def _check_int(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, f"must be a whole number of at least {minimum}, got {value!r}",
                    f"set {where} to {minimum} or more")
    return value


def _check_instances(instances: Any) -> None:
    _check_int(instances, "spec.executor.instances", minimum=1)


def _check_dynamic_allocation(dynamic: Mapping[str, Any]) -> None:
    where = "spec.dynamicAllocation"
    bounds = {key: _check_int(dynamic[key], f"{where}.{key}", minimum=0)
              for key in ("minExecutors", "initialExecutors", "maxExecutors") if key in dynamic}
    if not dynamic.get("enabled"):
        return
    low = bounds.get("minExecutors", 0)
    initial = bounds.get("initialExecutors", low)
    high = bounds.get("maxExecutors")
    if high is not None and high < 1:
        raise _fail(f"{where}.maxExecutors", "must be at least 1 when dynamic allocation is enabled",
                    f"set {where}.maxExecutors to 1 or more")
    if initial < low:
        raise _fail(f"{where}.initialExecutors",
                    f"initialExecutors {initial} is below minExecutors {low}",
                    f"set {where}.initialExecutors to at least {low}")
    if high is not None and initial > high:
        raise _fail(f"{where}.initialExecutors",
                    f"initialExecutors {initial} is above maxExecutors {high}",
                    f"set {where}.initialExecutors to at most {high}, or raise maxExecutors")


def _check_spark_conf(conf: Mapping[str, Any]) -> None:
    for key, value in conf.items():
        where = f"spec.sparkConf[{key}]"
        if not isinstance(key, str) or not key.startswith("spark."):
            raise _fail(where, f"{key!r} is not a Spark setting",
                        "use keys that start with spark., e.g. spark.sql.shuffle.partitions")
        if not isinstance(value, str):
            raise _fail(where, f"the value {value!r} is not a string",
                        f'quote it in the manifest, e.g. {key}: "{value}"')
    # These win over spec.executor in the driver's conf, so they size the executor pods.
    memory = conf.get("spark.executor.memory")
    if memory is not None:
        where = "spec.sparkConf[spark.executor.memory]"
        try:
            resources.pod_resources(role="executor", memory=memory, field=where)
        except IllegalArgumentException as e:
            raise SpecError(str(e), field=where) from None
    overhead = conf.get("spark.executor.memoryOverhead")
    if overhead is not None:
        where = "spec.sparkConf[spark.executor.memoryOverhead]"
        try:
            resources.size_bytes(overhead, field=where)
        except IllegalArgumentException as e:
            raise SpecError(str(e), field=where) from None


def _check_restart_policy(policy: Mapping[str, Any]) -> None:
    where = "spec.restartPolicy"
    if policy.get("type", "Never") not in ("Never", "OnFailure", "Always"):
        raise _fail(f"{where}.type", f"unknown restart policy {policy.get('type')!r}",
                    f"set {where}.type to Never, OnFailure or Always")
    for key, minimum in (("onFailureRetries", 0), ("onFailureRetryInterval", 1),
                         ("onSubmissionFailureRetries", 0),
                         ("onSubmissionFailureRetryInterval", 1)):
        if key in policy:
            _check_int(policy[key], f"{where}.{key}", minimum=minimum)
