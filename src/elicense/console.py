"""Shared plumbing for the command-line tools: clear errors, an open runtime, progress.

Every command wraps its body with :func:`clear_errors`: a domain error becomes one line
on stderr and exit code 1 (2 for bad configuration) — never a stack trace.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from elicense.errors import ConfigError, ELicenseError
from elicense.runtime import Runtime, open_runtime

P = ParamSpec("P")
R = TypeVar("R")
stderr = Console(stderr=True)


def clear_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a domain error as one line on stderr and exit non-zero."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            typer.echo(f"configuration error: {exc.message}", err=True)
            raise typer.Exit(2) from None
        except ELicenseError as exc:
            typer.echo(f"error [{exc.instance_code}]: {exc.message}", err=True)
            raise typer.Exit(1) from None

    return wrapper


@contextlib.contextmanager
def runtime_scope() -> Iterator[Runtime]:
    """The runtime named by the environment (database migrated), disposed afterwards."""
    runtime = open_runtime()
    try:
        yield runtime
    finally:
        runtime.db.dispose()


def progress() -> Progress:
    """A progress bar on stderr (rows/files done of total, time remaining)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
    )
