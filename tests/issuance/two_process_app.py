"""ASGI factory for the two-process test: ``open_runtime`` + ``create_app`` (no face models)."""

from __future__ import annotations

from fastapi import FastAPI

from elicense.runtime import open_runtime
from elicense.web.app import create_app


def app_factory() -> FastAPI:
    return create_app(open_runtime(upgrade=False))
