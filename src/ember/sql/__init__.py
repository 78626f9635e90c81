"""PySpark-compatible SQL and DataFrame API: ``from ember.sql import SparkSession``."""

from ember.errors import AnalysisException, ParseException
from ember.sql.column import Column
from ember.sql.dataframe import DataFrame
from ember.sql.group import GroupedData
from ember.sql.row import Row
from ember.sql.session import SparkSession

__all__ = [
    "AnalysisException",
    "Column",
    "DataFrame",
    "GroupedData",
    "ParseException",
    "Row",
    "SparkSession",
]
