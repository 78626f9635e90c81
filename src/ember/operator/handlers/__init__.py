"""kopf handlers, one module per resource; importing this package registers them."""

from ember.operator.handlers import operator_settings, pods, sparkapplications

__all__ = ["operator_settings", "pods", "sparkapplications"]
