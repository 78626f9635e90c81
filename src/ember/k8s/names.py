"""Names, labels, annotations, paths and ports shared by the operator, the driver and executors.

Object names follow the established Spark operator where it has one (``<app>-driver``,
``<prefix>-exec-<n>``). Names that must be DNS-1035 labels (Services) or fit a hostname are cut
to 63 characters with a stable hash suffix, so two long app names never collide.
"""

from __future__ import annotations

import hashlib
import re

GROUP = "ember.dev"
VERSION = "v1alpha1"
KIND = "SparkApplication"
PLURAL = "sparkapplications"
SINGULAR = "sparkapplication"
SHORT_NAMES = ("sparkapp",)

LABEL_APP_NAME = "ember.dev/app-name"
LABEL_APP_ID = "ember.dev/app-id"
LABEL_ROLE = "ember.dev/role"
LABEL_EXECUTOR_ID = "ember.dev/executor-id"
LABEL_SUBMISSION_ID = "ember.dev/submission-id"
ROLE_DRIVER = "driver"
ROLE_EXECUTOR = "executor"

#: The driver writes its RPC/UI address (``http://ip:port``) here once its server listens.
ANNOTATION_DRIVER_URL = "ember.dev/driver-url"

#: The app's bearer token lives under this key of the app's Secret.
SECRET_TOKEN_KEY = "token"
#: The Spark conf lives under this key of the app's ConfigMap, as ``key=value`` lines.
CONF_FILE = "spark.properties"
CONF_MOUNT_PATH = "/etc/ember/conf"
CONF_VOLUME = "spark-conf"
LOCAL_DIR_MOUNT_PATH = "/var/lib/ember/local"
LOCAL_DIR_VOLUME = "ember-local"
TMP_VOLUME = "tmp"

#: Where a container writes why it ended (Kubernetes' default terminationMessagePath).
TERMINATION_LOG = "/dev/termination-log"

#: Where the images keep ember's example programs (``local:///opt/ember/examples/...``).
IMAGE_HOME = "/opt/ember"

DRIVER_PORT = 7078
UI_PORT = 4040
MASTER_IN_CLUSTER = "k8s://https://kubernetes.default.svc"

_MAX_LABEL = 63
_INVALID = re.compile(r"[^a-z0-9-]")


def _hash(text: str, n: int = 5) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def fit(base: str, suffix: str = "", *, limit: int = _MAX_LABEL) -> str:
    """``base + suffix`` as a DNS-1035 label of at most ``limit`` characters.

    A base that is too long is cut and given a short hash of the whole, so the result stays unique.

    >>> fit("pi", "-driver")
    'pi-driver'
    >>> len(fit("a" * 80, "-driver-svc"))
    63
    """
    base = _INVALID.sub("-", base.lower()).strip("-") or "app"
    if base[0].isdigit():
        base = "a" + base
    if len(base) + len(suffix) <= limit:
        return base + suffix
    keep = limit - len(suffix) - 6
    return f"{base[:keep].rstrip('-')}-{_hash(base)}{suffix}"


def label_value(text: str) -> str:
    """``text`` as a valid label value (at most 63 characters of ``[A-Za-z0-9-_.]``)."""
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", text).strip("-_.")
    if len(value) <= _MAX_LABEL:
        return value
    return f"{value[:_MAX_LABEL - 6].rstrip('-_.')}-{_hash(value)}"


def driver_pod_name(app: str) -> str:
    return fit(app, "-driver")


def driver_service_name(app: str) -> str:
    return fit(app, "-driver-svc")


def conf_map_name(app: str) -> str:
    return fit(app, "-conf")


def secret_name(app: str) -> str:
    return fit(app, "-token")


def executor_pod_prefix(app: str) -> str:
    # Leaves room for "-exec-" and a five-digit executor id within 63 characters.
    return fit(app, limit=_MAX_LABEL - 11)


def executor_pod_name(prefix: str, executor_id: str) -> str:
    return f"{prefix}-exec-{executor_id}"


def app_id(uid: str) -> str:
    """The Spark application id of a SparkApplication: ``spark-`` and its uid without dashes."""
    return "spark-" + uid.replace("-", "")
