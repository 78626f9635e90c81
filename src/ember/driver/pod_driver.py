"""``ember driver MAIN [ARGS...]``: the driver of a SparkApplication, in its pod.

1. Reads ``$EMBER_CONF_DIR/spark.properties`` (the ConfigMap the operator mounted) and applies it
   as submitted settings, as ``ember submit --conf`` does: the program may still override them.
2. Resolves MAIN (``spec.mainApplicationFile``): ``local:///x/y.py`` is ``/x/y.py`` in the image;
   an absolute path is used as is.
3. Runs it with `ember.driver.app_runner`; ``spark.master=k8s://...`` makes the session's
   `DriverRuntime` create executor pods. The exit code is the program's.

Configuration errors (no properties file, a bad MAIN) exit with code 2 and say what to fix.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ember.k8s import names
from ember.k8s.driver import parse_properties

log = logging.getLogger("ember.driver")

USAGE_ERROR = 2
_TEMPLATE_KEY = "spark.kubernetes.executor.podTemplateFile"


class DriverSetupError(Exception):
    """What stops the driver before the program runs; the message says what to fix."""


def resolve_main(main: str) -> Path:
    """The local path of ``spec.mainApplicationFile``; it must exist.

    >>> str(resolve_main("local:///etc/hostname"))
    '/etc/hostname'
    """
    if main.startswith("local://"):
        path = main[len("local://"):]
    elif main.startswith("/"):
        path = main
    else:
        msg = (f"spec.mainApplicationFile {main!r} is not supported\n\n"
               "use local:///path/in/the/image.py or an absolute path (a file in the image, or "
               "mounted from a volume)")
        raise DriverSetupError(msg)
    if not path.startswith("/"):
        msg = (f"spec.mainApplicationFile {main!r} must name an absolute path\n\n"
               "write local:///path/in/the/image.py (three slashes)")
        raise DriverSetupError(msg)
    resolved = Path(path)
    if not resolved.is_file():
        msg = (f"spec.mainApplicationFile {main!r}: no such file {resolved} in the driver "
               "image\n\ncheck the path and the image (or the volume that should hold it)")
        raise DriverSetupError(msg)
    return resolved


def read_settings(conf_dir: Path) -> dict[str, str]:
    """The Spark settings in ``conf_dir/spark.properties``."""
    path = conf_dir / names.CONF_FILE
    try:
        text = path.read_text()
    except OSError as exc:
        msg = (f"cannot read the Spark settings {path}: {exc.strerror or exc}\n\n"
               f"the operator mounts them from the app's ConfigMap; set EMBER_CONF_DIR to the "
               f"folder holding {names.CONF_FILE}")
        raise DriverSetupError(msg) from None
    settings = parse_properties(text)
    template = settings.get(_TEMPLATE_KEY)
    if template and not Path(template).is_file() and (conf_dir / Path(template).name).is_file():
        # The conf volume is mounted somewhere else than the path the operator wrote down.
        settings[_TEMPLATE_KEY] = str(conf_dir / Path(template).name)
    return settings


def main(app: str, args: Sequence[str]) -> int:
    """Set up from the pod's conf and environment, run the program; its exit code."""
    from ember.core.conf import set_submitted
    from ember.driver import app_runner

    logging.basicConfig(level=os.environ.get("EMBER_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    conf_dir = Path(os.environ.get("EMBER_CONF_DIR") or names.CONF_MOUNT_PATH)
    # Set in the driver pod to its terminationMessagePath; unset outside a pod.
    termination_log = (Path(os.environ["EMBER_TERMINATION_LOG"])
                       if os.environ.get("EMBER_TERMINATION_LOG") else None)
    try:
        settings = read_settings(conf_dir)
        program = resolve_main(app)
        if str(settings.get("spark.master", "k8s://")).startswith("k8s://") and \
                not os.environ.get("EMBER_SECRET"):
            msg = ("EMBER_SECRET is not set: the driver and its executors authenticate with "
                   "the application's token\n\nset EMBER_SECRET in the driver pod from the "
                   "app's Secret (the operator does this)")
            raise DriverSetupError(msg)
    except DriverSetupError as exc:
        print(f"ember driver: {exc}", file=sys.stderr)
        app_runner.write_failure(termination_log, " ".join(str(exc).split()))
        return USAGE_ERROR
    settings.setdefault("spark.master", names.MASTER_IN_CLUSTER)
    if os.environ.get("EMBER_APP_ID"):
        settings.setdefault("spark.app.id", os.environ["EMBER_APP_ID"])
    if os.environ.get("EMBER_APP_NAME"):
        settings.setdefault("spark.app.name", os.environ["EMBER_APP_NAME"])
    if os.environ.get("EMBER_LOCAL_DIR"):
        settings.setdefault("spark.local.dir", os.environ["EMBER_LOCAL_DIR"])
    set_submitted(settings)
    log.info("app %s (%s): running %s %s with %s executors on %s",
             settings.get("spark.app.id", "?"), settings.get("spark.app.name", "?"), program,
             " ".join(args), settings.get("spark.executor.instances", "2"),
             settings["spark.master"])
    code = app_runner.run_program(program, args, failure_file=termination_log)
    log.info("app %s: the program exited with code %d", settings.get("spark.app.id", "?"), code)
    return code
