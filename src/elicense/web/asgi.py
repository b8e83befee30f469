"""ASGI entry point for uvicorn workers: ``uvicorn --factory elicense.web.asgi:app_factory``."""

from __future__ import annotations

from fastapi import FastAPI

from elicense import logs
from elicense.runtime import open_runtime
from elicense.web.app import create_app


def app_factory() -> FastAPI:
    runtime = open_runtime(upgrade=False)
    logs.configure(runtime.settings.log_level)
    return create_app(runtime)
