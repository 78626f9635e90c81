"""``ember operator``: run kopf with ember's handlers.

The same as ``kopf run --standalone -m ember.operator`` with ember's defaults: all namespaces
unless ``--namespace`` is given, a liveness endpoint when asked for, and the kubeconfig from
``KUBECONFIG`` (or in-cluster credentials inside a pod).
"""

from __future__ import annotations

import argparse
import logging
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", "-n", action="append", default=[], metavar="NS",
                        help="watch this namespace (repeatable; default: all namespaces)")
    parser.add_argument("--liveness", metavar="URL",
                        help="serve a liveness probe, e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--verbose", action="store_true", help="log kopf's details")


def run(args: argparse.Namespace) -> int:
    import kopf

    import ember.operator  # noqa: F401 - registers the handlers

    level = os.environ.get("EMBER_LOG_LEVEL", "INFO").upper()
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger().setLevel(logging.DEBUG if args.verbose else level)
    # kubernetes' urllib3 logs every request at DEBUG; keep it quiet unless asked.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    kopf.run(standalone=True, clusterwide=not args.namespace, namespaces=args.namespace,
             liveness_endpoint=args.liveness)
    return 0
