"""ASGI entry point for uvicorn workers: ``uvicorn --factory elicense.web.asgi:app_factory``."""

from __future__ import annotations

from fastapi import FastAPI

from elicense import logs
from elicense.runtime import open_runtime
from elicense.web.app import create_app


def app_factory() -> FastAPI:
    """One worker's app. ``elicense serve`` migrates the database before workers start."""
    from elicense.proofing import parallel

    runtime = open_runtime(upgrade=False)
    logs.configure(runtime.settings.log_level, access_log=runtime.settings.access_log)
    parallel.warm_pool()  # face models loaded now, not on the first citizen's scan
    return create_app(runtime)
