"""The ``ember`` command.

- ``ember submit app.py [args]``: run a PySpark program on ember, unchanged, with
  ``--master``, ``--conf k=v``, ``--name`` and ``--py-files`` as spark-submit takes them.
- ``ember driver MAIN [args]``: run a program as the driver in a pod (started by the operator).
- ``ember operator``: run the SparkApplication operator (kopf) against the current kubeconfig.
- ``ember local-cluster up|down``: a local Kubernetes API emulator and process kubelet.
- ``ember executor``: run an executor process (started by drivers, not by hand).
- ``ember version``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _submit(args: argparse.Namespace) -> int:
    from ember.core.conf import set_submitted
    from ember.driver import app_runner

    app = Path(args.app)
    if not app.is_file():
        print(f"ember submit: no such file: {app}\n\npass the path of a Python program",
              file=sys.stderr)
        return 2
    settings: dict[str, str] = {}
    for pair in args.conf or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            print(f"ember submit: --conf takes key=value, got {pair!r}", file=sys.stderr)
            return 2
        settings[key.strip()] = value.strip()
    if args.master:
        settings["spark.master"] = args.master
    if args.name:
        settings["spark.app.name"] = args.name
    set_submitted(settings)
    extra_paths = [p for p in (args.py_files or "").split(",") if p]
    return app_runner.run_program(app, args.args, extra_paths=extra_paths)


def _driver(args: argparse.Namespace) -> int:
    from ember.driver import pod_driver

    return pod_driver.main(args.app, args.args)


def _local_cluster_up(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ember.localkube import cluster

    state_dir = Path(args.state_dir) if args.state_dir else cluster.default_state_dir()
    kubeconfig = Path(args.kubeconfig).resolve() if args.kubeconfig else None
    if args.detach:
        try:
            state = cluster.up_detached(port=args.port, kubeconfig=kubeconfig,
                                        state_dir=state_dir)
        except RuntimeError as exc:
            print(f"ember local-cluster: {exc}", file=sys.stderr)
            return 1
        print(cluster.usage(state["url"], Path(state["kubeconfig"])))
        return 0
    running = cluster.start(port=args.port, kubeconfig=kubeconfig, work_dir=state_dir)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if args.foreground:
            cluster.write_state(state_dir, running)
        else:
            print(cluster.usage(running.url, running.kubeconfig).replace(
                "ember local-cluster down", "Ctrl-C"), flush=True)
        stop.wait()
    finally:
        running.stop()
        if args.foreground:
            cluster.clear_state(state_dir)
    return 0


def _local_cluster_down(args: argparse.Namespace) -> int:
    from ember.localkube import cluster

    state_dir = Path(args.state_dir) if args.state_dir else cluster.default_state_dir()
    print(cluster.down(state_dir=state_dir))
    return 0


def _executor(_: argparse.Namespace) -> int:
    from ember.executor.server import main

    main()
    return 0


def _version(_: argparse.Namespace) -> int:
    from importlib.metadata import version

    print(f"ember {version('ember')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ember", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    submit = sub.add_parser("submit", help="run a PySpark program on ember")
    submit.add_argument("--master", help="local, local[N] or local[*] (default local[*])")
    submit.add_argument("--conf", action="append", metavar="KEY=VALUE",
                        help="a Spark setting; repeat for several")
    submit.add_argument("--name", help="the application name (spark.app.name)")
    submit.add_argument("--py-files", help="comma-separated .py/.zip files for the program")
    submit.add_argument("app", help="the program's main file")
    submit.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the program")
    submit.set_defaults(func=_submit)
    driver = sub.add_parser("driver", help="run a program as the driver in a pod (Kubernetes)",
                            description="Run MAIN as the driver of a SparkApplication, with the "
                            "settings in $EMBER_CONF_DIR/spark.properties; executors are pods.")
    driver.add_argument("app", metavar="MAIN",
                        help="local:///path/in/image.py or an absolute path")
    driver.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the program")
    driver.set_defaults(func=_driver)
    _add_local_cluster(sub)
    _add_operator(sub)
    sub.add_parser("executor", help="run an executor (started by a driver)").set_defaults(
        func=_executor)
    sub.add_parser("version", help="print the version").set_defaults(func=_version)
    return parser


def _add_operator(sub: argparse._SubParsersAction) -> None:
    from ember.operator import main as operator_main

    operator = sub.add_parser("operator", help="run the SparkApplication operator (kopf)",
                              description=operator_main.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    operator_main.add_arguments(operator)
    operator.set_defaults(func=operator_main.run)


def _add_local_cluster(sub: argparse._SubParsersAction) -> None:
    from ember.localkube.cluster import LIMITATIONS

    description = ("A local development and test cluster: a Kubernetes API emulator and a "
                   "kubelet that runs pods as local processes. It is not Kubernetes:\n\n"
                   + LIMITATIONS)
    group = sub.add_parser("local-cluster", help="a local Kubernetes substrate for development",
                           description=description,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = group.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start the API emulator and the process kubelet",
                            description=description,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    up.add_argument("--port", type=int, default=0, help="API port (default: a free one)")
    up.add_argument("--kubeconfig", help="where to write the kubeconfig "
                                         "(default: ~/.ember/local-cluster/kubeconfig)")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--state-dir", help=argparse.SUPPRESS)
    up.add_argument("--foreground", action="store_true", help=argparse.SUPPRESS)
    up.set_defaults(func=_local_cluster_up)
    down = actions.add_parser("down", help="stop it and every pod process it started")
    down.add_argument("--state-dir", help=argparse.SUPPRESS)
    down.set_defaults(func=_local_cluster_down)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
