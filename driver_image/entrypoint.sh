#!/bin/sh
# The driver image: `ember driver MAIN [ARGS...]` reads the Spark conf the operator mounted at
# $EMBER_CONF_DIR, runs the program MAIN (local:///path or an absolute path) and creates the
# executor pods.
set -eu
exec ember driver "$@"
