"""Fixtures for the local Kubernetes substrate.

``kube`` is a fresh API emulator per test (it starts in well under a second); ``api_client`` is a
kubernetes Python client configured from its kubeconfig.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from ember.localkube import emulator


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[emulator.LocalKube]:
    handle = emulator.start(kubeconfig=tmp_path / "kubeconfig")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def api_client(kube: emulator.LocalKube) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(kube.kubeconfig))
    try:
        yield client
    finally:
        client.close()
