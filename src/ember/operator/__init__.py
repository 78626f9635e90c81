"""The ember operator: kopf handlers that turn SparkApplications into drivers.

Run it with ``ember operator`` or ``kopf run -m ember.operator``; importing this package
registers the handlers of `ember.operator.handlers`. The lifecycle itself is the sans-IO machine
in `ember.operator.lifecycle`.
"""

from ember.operator import handlers

__all__ = ["handlers"]
