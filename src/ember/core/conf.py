"""``SparkConf`` and the settings ember reads, with Spark's names and defaults."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeVar

from ember.errors import IllegalArgumentException

_N = TypeVar("_N", int, float)

DEFAULTS: dict[str, str] = {
    "spark.app.name": "ember",
    "spark.master": "local[*]",
    "spark.executor.cores": "1",
    "spark.executor.memory": "1g",
    "spark.memory.fraction": "0.6",
    "spark.memory.storageFraction": "0.5",
    "spark.task.cpus": "1",
    "spark.task.maxFailures": "4",
    "spark.stage.maxConsecutiveAttempts": "4",
    "spark.speculation": "false",
    "spark.speculation.interval": "100ms",
    "spark.speculation.multiplier": "1.5",
    "spark.speculation.quantile": "0.75",
    "spark.speculation.minTaskRuntime": "100ms",
    "spark.sql.shuffle.partitions": "200",
    "spark.sql.autoBroadcastJoinThreshold": str(10 * 1024 * 1024),
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.sql.adaptive.advisoryPartitionSizeInBytes": str(64 * 1024 * 1024),
    "spark.sql.adaptive.coalescePartitions.minPartitionSize": str(1024 * 1024),
    "spark.sql.caseSensitive": "false",
    # Spark's names; minRows is ember's figure (see ember.exec.aggregate).
    "spark.sql.execution.aggregate.adaptivePartialAggregation.enabled": "true",
    "spark.sql.execution.aggregate.adaptivePartialAggregation.minRows": "100000",
    "spark.sql.execution.aggregate.adaptivePartialAggregation.minCompaction": "1.05",
    "spark.executor.heartbeatInterval": "2s",
    "spark.network.timeout": "30s",
    "spark.task.maxDirectResultSize": str(1024 * 1024),
    "spark.local.dir": "",
}

_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2,
               "g": 1024**3, "gb": 1024**3, "t": 1024**4, "tb": 1024**4,
               # Kubernetes' binary quantities, as SparkApplication specs may write them.
               "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}
_TIME_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "": 1.0}


def parse_bytes(value: str, *, key: str = "", default_unit: str = "") -> int:
    """Spark's byte strings: ``512m``, ``2g``, ``1048576``; also Kubernetes' ``512Mi``, ``2Gi``."""
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
    unit = (m.group(2).lower() if m else "") or default_unit
    if not m or unit not in _SIZE_UNITS:
        msg = (f"invalid size {value!r} for {key or 'a size setting'}\n\n"
               "use a number with an optional unit, e.g. 512m or 2g")
        raise IllegalArgumentException(msg)
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def parse_seconds(value: str, *, key: str = "") -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _TIME_UNITS:
        msg = f"invalid duration {value!r} for {key or 'a time setting'}\n\nuse e.g. 500ms, 2s, 1m"
        raise IllegalArgumentException(msg)
    return float(m.group(1)) * _TIME_UNITS[m.group(2).lower()]


# Settings given on the command line of `ember submit` (--master, --conf): they apply to every
# session the program builds, below what the program sets itself, as with spark-submit.
_submitted: dict[str, str] = {}


def set_submitted(settings: dict[str, str]) -> None:
    _submitted.clear()
    _submitted.update(settings)


class SparkConf:
    """Key-value settings; unset keys fall back to Spark's defaults."""

    def __init__(self, loadDefaults: bool = True, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._values: dict[str, str] = {}
        for k, v in pairs:
            self.set(k, v)

    def set(self, key: str, value: object) -> SparkConf:
        if isinstance(value, bool):
            value = str(value).lower()
        self._values[key] = str(value)
        return self

    def setAll(self, pairs: Iterable[tuple[str, object]]) -> SparkConf:
        for k, v in pairs:
            self.set(k, v)
        return self

    def setMaster(self, value: str) -> SparkConf:
        return self.set("spark.master", value)

    def setAppName(self, value: str) -> SparkConf:
        return self.set("spark.app.name", value)

    def get(self, key: str, defaultValue: str | None = None) -> str | None:
        if key in self._values:
            return self._values[key]
        if key in _submitted:
            return _submitted[key]
        if defaultValue is not None:
            return defaultValue
        return DEFAULTS.get(key)

    def contains(self, key: str) -> bool:
        return key in self._values

    def getAll(self) -> list[tuple[str, str]]:
        return sorted(self._values.items())

    def unset(self, key: str) -> SparkConf:
        self._values.pop(key, None)
        return self

    def get_int(self, key: str) -> int:
        return self._number(key, int, "an integer")

    def get_float(self, key: str) -> float:
        return self._number(key, float, "a number")

    def _number(self, key: str, kind: type[_N], what: str) -> _N:
        value = self.get(key)
        try:
            return kind(str(value))
        except ValueError:
            msg = f"{key} must be {what}, got {value!r}"
            raise IllegalArgumentException(msg) from None

    def get_bool(self, key: str) -> bool:
        return str(self.get(key)).strip().lower() == "true"

    def get_bytes(self, key: str, *, default_unit: str = "") -> int:
        return parse_bytes(str(self.get(key)), key=key, default_unit=default_unit)

    def get_seconds(self, key: str) -> float:
        return parse_seconds(str(self.get(key)), key=key)

    def copy(self) -> SparkConf:
        return SparkConf(pairs=self._values.items())

    def toDebugString(self) -> str:
        return "\n".join(f"{k}={v}" for k, v in self.getAll())
