"""The semantic metrics layer: Ibis expressions over the warehouse, never a query by hand.

- ``catalog`` / ``compile_kpi`` (``compile``): the KPI catalog (``catalog.toml`` plus the
  project's ``[[kpis]]``) compiled for any grain and slice;
- ``sources``: the fact sources KPIs aggregate (sessions, events, orders, users, spend,
  surveys), ``valued_orders`` the one definition of order value in the reporting currency;
- ``funnel`` (``funnels``), ``retention`` (``cohorts``);
- ``build_paths`` (``journeys``): attribution paths; ``customer_summary``
  (``customers``): the customer-value models' statistics; ``market_summary``
  (``summary``): the headline numbers.
"""

from growthloop.metrics.cohorts import retention, to_matrix
from growthloop.metrics.compile import builtin_catalog, catalog, compile_kpi, kpi_dimensions
from growthloop.metrics.funnels import funnel
from growthloop.metrics.sources import SOURCES

__all__ = ["SOURCES", "builtin_catalog", "catalog", "compile_kpi", "funnel", "kpi_dimensions",
           "retention", "to_matrix"]
