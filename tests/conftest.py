"""Shared fixtures.

``spark`` is one local-mode session (two executor processes) shared by the whole test run, with
few shuffle partitions so tests stay fast. Tests that kill executors or change settings use
``make_session`` for a private session instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ember.core.conf import SparkConf
from ember.sql import SparkSession


def _conf(master: str = "local[2]", **settings: object) -> SparkConf:
    conf = SparkConf().setMaster(master).setAppName("ember-tests")
    conf.set("spark.sql.shuffle.partitions", 4)
    for key, value in settings.items():
        conf.set(key.replace("_", "."), value)
    return conf


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = SparkSession.builder.master("local[2]").appName("ember-tests") \
        .config("spark.sql.shuffle.partitions", 4).getOrCreate()
    yield session
    session.stop()


@pytest.fixture
def make_session() -> Iterator[Callable[..., SparkSession]]:
    """Private sessions: ``make_session("local[2]", **{"spark.task.maxFailures": 2})``."""
    created: list[SparkSession] = []

    def make(master: str = "local[2]", settings: dict[str, object] | None = None) -> SparkSession:
        conf = _conf(master)
        for key, value in (settings or {}).items():
            conf.set(key, value)
        session = SparkSession(conf)
        created.append(session)
        return session

    yield make
    for session in created:
        session.stop()
