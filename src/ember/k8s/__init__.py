"""Kubernetes objects as plain dicts: names, labels, resources, pods, services, the CRD.

Everything here is a pure function of its arguments. The operator's handlers and the driver's
Kubernetes backend do the I/O with what these functions return.
"""
