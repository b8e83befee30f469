"""FastAPI dependencies shared by every part's router: the app's runtime and a session.

``Runtime`` is built once per process by :func:`elicense.web.app.create_app` and kept on
``app.state.runtime``; routers reach it through these dependencies, never through
module globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from elicense.runtime import Runtime
from elicense.storage import ratelimit
from elicense.storage.sealing import Sealer

__all__ = [
    "Runtime",
    "RuntimeDep",
    "SealerDep",
    "SessionDep",
    "get_runtime",
    "get_session",
    "rate_limit",
]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns (before the
    response is sent; see :data:`SessionDep`), rolled back on any error."""
    with runtime.db.transaction() as session:
        yield session


def get_sealer(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Sealer:
    return runtime.sealer


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
#: ``scope="function"``: the transaction commits when the handler returns, *before* the
#: response is sent, so a client's next request always sees this one's writes, and a
#: failed commit becomes an error response instead of a lost write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SealerDep = Annotated[Sealer, Depends(get_sealer)]


def rate_limit(scope: str, per_minute: int) -> Callable[[Request, Runtime], None]:
    """A route dependency counting requests per client address for ``scope``.

    Put it in the route decorator's ``dependencies=[...]``: FastAPI resolves those
    before the request's own transaction opens, so the count is committed even when the
    request fails (and no second transaction is opened while the first holds SQLite's
    write lock).
    """

    def check(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> None:
        client = request.client.host if request.client else "unknown"
        ratelimit.hit(runtime.db, scope, client, per_minute)

    return check
