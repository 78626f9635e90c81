# syntax=docker/dockerfile:1
# ember's images: one runtime with the ember wheel and the example programs, and a target per role.
#
#   docker build --target operator -t ghcr.io/ember-dev/ember-operator:0.1.0 .
#   docker build --target driver   -t ghcr.io/ember-dev/ember-driver:0.1.0 .
#   docker build --target executor -t ghcr.io/ember-dev/ember-executor:0.1.0 .
#
# The targets differ only in their ENTRYPOINT. Pods set their own command (the chart's Deployment
# runs kopf; driver and executor pods run `ember driver` / `ember executor`), so any of them can
# serve as the image a SparkApplication names.

ARG PYTHON_IMAGE=python:3.12-slim

# Build stage: the ember wheel.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN pip install build
COPY pyproject.toml README.md ./
COPY src/ src/
RUN python -m build --wheel --outdir /dist

# Common runtime: ember installed from the wheel, a non-root user, the examples under /opt/ember.
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    EMBER_HOME=/opt/ember
RUN groupadd --gid 1000 ember \
    && useradd --uid 1000 --gid 1000 --home-dir /home/ember --create-home --shell /usr/sbin/nologin ember
COPY --from=build /dist/ /tmp/wheels/
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels
COPY examples/ /opt/ember/examples/
WORKDIR /home/ember
USER 1000:1000

FROM runtime AS operator
COPY operator/entrypoint.sh /opt/ember/bin/entrypoint.sh
# kopf's liveness endpoint (--liveness=http://0.0.0.0:8080/healthz in the chart).
EXPOSE 8080
ENTRYPOINT ["/opt/ember/bin/entrypoint.sh"]

FROM runtime AS executor
COPY executor_image/entrypoint.sh /opt/ember/bin/entrypoint.sh
ENTRYPOINT ["/opt/ember/bin/entrypoint.sh"]

FROM runtime AS driver
COPY driver_image/entrypoint.sh /opt/ember/bin/entrypoint.sh
EXPOSE 7078
ENTRYPOINT ["/opt/ember/bin/entrypoint.sh"]
