#!/bin/sh
# The executor image: `ember executor` registers with the driver at $EMBER_DRIVER_URL and runs
# the tasks it is sent until the driver lets it go.
set -eu
exec ember executor "$@"
