#!/bin/sh
# The operator image: kopf runs ember's handlers (the ember.operator module) without peering,
# one operator per cluster. Extra arguments (--all-namespaces, --namespace NS, --liveness=URL)
# are passed on to `kopf run`.
set -eu
exec kopf run --standalone -m ember.operator "$@"
