"""The service ``growthloop serve`` runs: the collector and the dashboard in one app.

``growthloop serve`` sets ``GROWTHLOOP_COLLECTOR_CONFIG`` (the project file) and runs
uvicorn with ``app`` as a factory, in one process or several (``--workers``, sharing the
port); each worker has its own journal files.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from fastapi import FastAPI

from growthloop.core.config import load_config
from growthloop.ingest.collector.app import create_app
from growthloop.report.dashboard import dashboard_router

__all__ = ["CONFIG_ENV", "SEAL_ENV", "app"]

CONFIG_ENV = "GROWTHLOOP_COLLECTOR_CONFIG"
SEAL_ENV = "GROWTHLOOP_COLLECTOR_SEAL_SECONDS"


def app() -> FastAPI:
    """The collector and dashboard of the project named by ``GROWTHLOOP_COLLECTOR_CONFIG``."""
    config = Path(os.environ[CONFIG_ENV])
    cfg = load_config(config)
    state = cfg.warehouse_path(config.resolve().parent).parent
    application = create_app(cfg, state, seal_seconds=float(os.environ.get(SEAL_ENV, "5")))
    application.include_router(dashboard_router(config))
    gc.collect()
    gc.freeze()  # what is loaded now lives as long as the worker
    return application
