"""The semantic metrics layer: KPI declarations, their sources and the compiler.

Public names are loaded on first use, so the project file can import the KPI
models without pulling in the query layer.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["GRAINS", "KPI", "SOURCES", "Measure", "builtin_catalog", "catalog", "compile_kpi",
           "funnel", "kpi_dimensions", "retention", "to_matrix"]

_WHERE = {"GRAINS": "definitions", "KPI": "definitions", "Measure": "definitions",
          "SOURCES": "sources", "builtin_catalog": "compile", "catalog": "compile",
          "compile_kpi": "compile", "kpi_dimensions": "compile", "funnel": "funnels",
          "retention": "cohorts", "to_matrix": "cohorts"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"growthloop.metrics.{_WHERE[name]}"), name)
    raise AttributeError(name)
