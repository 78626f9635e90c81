"""Exceptions raised to users, named as in ``pyspark.errors``.

Messages follow one shape: what was wrong, where, then (after a blank line) what to do.
"""

from __future__ import annotations


class EmberException(Exception):
    """Base class of every error ember raises on purpose."""


class AnalysisException(EmberException):
    """The query refers to something that does not exist or does not type-check."""


class ParseException(AnalysisException):
    """A DDL string, SQL text or expression string could not be parsed.

    ``line`` and ``column`` are 1-based; ``context`` is the offending text.
    """

    def __init__(
        self, message: str, *, line: int | None = None, column: int | None = None,
        context: str | None = None,
    ) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.context = context


class IllegalArgumentException(EmberException, ValueError):
    """An argument has a value that cannot be used."""


class PythonException(EmberException):
    """User code failed inside a task; the message carries the original traceback."""


class SparkJobError(EmberException):
    """A job was aborted: a stage failed more times than ``spark.task.maxFailures`` allows."""


class UnsupportedOperationException(EmberException, NotImplementedError):
    """A PySpark feature ember does not provide yet."""


# PySpark's names for the same exceptions, so programs catching them run unchanged.
PySparkException = EmberException
PySparkValueError = IllegalArgumentException
PySparkTypeError = TypeError
SparkRuntimeException = SparkJobError
