"""FastAPI dependencies shared by every part's router: the app's runtime and a session.

``Runtime`` is built once per process by :func:`elicense.web.app.create_app` and kept on
``app.state.runtime``; routers reach it through these dependencies, never through
module globals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from elicense.runtime import Runtime
from elicense.storage.sealing import Sealer

__all__ = ["Runtime", "RuntimeDep", "SealerDep", "SessionDep", "get_runtime", "get_session"]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, else rolled back."""
    with runtime.db.transaction() as session:
        yield session


def get_sealer(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Sealer:
    return runtime.sealer


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session)]
SealerDep = Annotated[Sealer, Depends(get_sealer)]
