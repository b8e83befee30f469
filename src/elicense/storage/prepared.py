"""Core statements compiled once per dialect and run on the driver's own connection.

The response path runs three statements per presentation. Through a SQLAlchemy
``Connection`` each one costs a cache key, an execution context and event dispatch:
more CPU than SQLite spends on the statement itself. :class:`Prepared` compiles a Core
statement once for the engine's dialect and keeps what Core would do at run time, the
SQL text, the parameter order and each column type's bind and result processors (so
values are stored and read exactly as Core stores and reads them); :func:`driver_cursor`
runs them on a pooled DBAPI connection.

Transactions: on SQLite a write transaction is opened with ``BEGIN IMMEDIATE``, as the
engine does for every transaction (writers queue on the lock instead of failing on
upgrade); a read is one autocommit statement (a consistent snapshot, no lock). With
:func:`driver_cursor`, other drivers open their transaction implicitly (see below for
:class:`DriverConnection`). Driver ``OperationalError`` becomes
:class:`~elicense.errors.StorageError`, as with ``Database.transaction``.

:func:`driver_connection` keeps one pooled connection for several transactions in turn
(a read, then a write, without a second check-out). Its write transactions can be asked
not to wait for SQLite's write lock (``wait=False``): the caller gets
:class:`WriteLockBusy` at once instead of the busy timeout, e.g. to retry on a thread
that may block rather than on an event loop. On a networked database every statement is
a round trip, and an implicit transaction adds two (``BEGIN``, ``COMMIT``): so a
:class:`DriverConnection` runs in the driver's autocommit mode while it is checked out,
a read is one autocommit statement there too, a write transaction opens with an explicit
``BEGIN``, and :meth:`DriverConnection.statement` runs one self-contained write (one
round trip, atomic on its own).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from elicense.errors import StorageError
from elicense.storage.db import SQLITE_BUSY_TIMEOUT_MS

Processor = Callable[[Any], Any] | None
_S = TypeVar("_S")


@dataclasses.dataclass(frozen=True, slots=True)
class Prepared:
    """One statement, compiled for one dialect."""

    sql: str
    positional: bool
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    binds: Mapping[str, Processor]
    results: tuple[Processor, ...]

    @classmethod
    def compile(
        cls, statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None
    ) -> Prepared:
        compiled = statement.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys else None
        )
        assert isinstance(compiled, SQLCompiler)
        sql = compiled.string
        if compiled.positional:
            names = tuple(compiled.positiontup or ())
        else:
            names = tuple(n for n in compiled.binds if f"%({n})s" in sql)
        params = {n: compiled.binds[n] for n in names}
        # a SELECT's columns, or what an INSERT/UPDATE/DELETE … RETURNING returns
        columns: Sequence[Any] = tuple(
            getattr(statement, "selected_columns", None)
            or getattr(statement, "exported_columns", None)
            or ()
        )
        return cls(
            sql=sql,
            positional=compiled.positional,
            names=names,
            defaults={n: p.effective_value for n, p in params.items() if not p.required},
            binds={
                n: p.type.dialect_impl(dialect).bind_processor(dialect) for n, p in params.items()
            },
            results=tuple(
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
            ),
        )

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        # the hot loop of every statement: no intermediate dicts, defaults only when missing
        defaults, binds = self.defaults, self.binds
        out = []
        for name in self.names:
            value = values[name] if name in values else defaults[name]
            process = binds[name]
            out.append(process(value) if process is not None and value is not None else value)
        return tuple(out) if self.positional else dict(zip(self.names, out, strict=True))

    def execute(self, cursor: Any, values: Mapping[str, Any]) -> Any:
        cursor.execute(self.sql, self.parameters(values))
        return cursor

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        """A driver row, each value converted as Core converts it."""
        return tuple(p(v) if p is not None else v for p, v in zip(self.results, raw, strict=True))

    def all(self, cursor: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, converted (:meth:`row`)."""
        return [self.row(raw) for raw in self.execute(cursor, values).fetchall()]

    def one_or_none(self, cursor: Any, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        raw = self.execute(cursor, values).fetchone()
        return None if raw is None else self.row(raw)

    # The same on an asynchronous cursor (psycopg's, see :mod:`elicense.storage.aio`).

    async def execute_async(self, cursor: Any, values: Mapping[str, Any]) -> Any:
        await cursor.execute(self.sql, self.parameters(values))
        return cursor

    async def one_or_none_async(
        self, cursor: Any, values: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        raw = await (await self.execute_async(cursor, values)).fetchone()
        return None if raw is None else self.row(raw)


class PerDialect(Generic[_S]):
    """A part's statements, compiled on first use for each dialect and then kept."""

    def __init__(self, build: Callable[[Dialect], _S]) -> None:
        self._build = build
        self._built: dict[str, _S] = {}

    def __call__(self, dialect: Dialect) -> _S:
        found = self._built.get(dialect.name)
        if found is None:  # a race compiles twice, harmlessly: the results are equal
            found = self._built[dialect.name] = self._build(dialect)
        return found


@contextlib.contextmanager
def driver_cursor(engine: Engine, *, write: bool) -> Iterator[Any]:
    """A DBAPI cursor on a pooled connection: committed on success, rolled back on
    error (see the module docstring for how the transaction opens). ``write=False``:
    every statement commits on its own, on every backend (reads, or one
    self-contained write: one round trip on a networked database)."""
    dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.OperationalError
    autocommit = not write and engine.dialect.name != "sqlite"  # SQLite's already is
    connection = _connect(engine)
    try:
        if autocommit:
            connection.dbapi_connection.autocommit = True
        cursor = connection.cursor()
        try:
            if write and engine.dialect.name == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            yield cursor
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            cursor.close()
    except dbapi_error as exc:
        raise storage_error(exc) from None
    finally:
        if autocommit:
            _leave_autocommit(connection)
        connection.close()


def _leave_autocommit(connection: Any) -> None:
    """Back out of autocommit before the pool has the connection again (its users
    expect transactions); a connection that cannot is discarded instead."""
    try:
        connection.rollback()
        connection.dbapi_connection.autocommit = False
    except Exception:  # noqa: BLE001 - broken: the pool must not hand it out again
        connection.invalidate()


_SQLITE_BUSY = 5  # SQLite's primary result code for a lock held by another connection


class WriteLockBusy(Exception):
    """SQLite's write lock is held by another connection and the caller chose not to wait."""


class DriverConnection:
    """One pooled DBAPI connection, for one transaction after another."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect
        self._sqlite = dialect.name == "sqlite"
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.OperationalError
        if not self._sqlite:  # SQLite's connections are autocommit already (db.py)
            self.connection.dbapi_connection.autocommit = True

    @classmethod
    def check_out(cls, engine: Engine) -> DriverConnection:
        """A connection from ``engine``'s pool (:class:`~elicense.errors.StorageError`
        if none can be made); :meth:`close` gives it back."""
        return cls(_connect(engine), engine.dialect)

    def close(self) -> None:
        """Back to the pool as it came (which rolls back anything left open); a
        connection that cannot leave autocommit mode is discarded instead."""
        if not self._sqlite:
            _leave_autocommit(self.connection)
        self.connection.close()

    @contextlib.contextmanager
    def storage_errors(self) -> Iterator[None]:
        """Driver errors raised inside become :class:`~elicense.errors.StorageError`."""
        try:
            yield
        except self._dbapi_error as exc:
            raise storage_error(exc) from None

    @contextlib.contextmanager
    def transaction(self, *, write: bool, wait: bool = True) -> Iterator[Any]:
        """A cursor: committed on success, rolled back on error (a read is one
        autocommit statement; see the module docstring). ``wait=False``: :class:`WriteLockBusy`
        if SQLite's write lock is taken. Driver errors are the driver's (see
        :meth:`storage_errors`)."""
        cursor = self.connection.cursor()
        try:
            if not write:
                pass  # one autocommit statement: a consistent snapshot, no lock
            elif not self._sqlite:
                cursor.execute("BEGIN")
            elif wait:
                cursor.execute("BEGIN IMMEDIATE")
            else:
                self._begin_no_wait(cursor)
            yield cursor
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        finally:
            cursor.close()

    @contextlib.contextmanager
    def statement(self) -> Iterator[Any]:
        """A cursor for one self-contained statement, committed on its own (on a
        networked database, one round trip; atomic as every statement is). Driver
        errors are the driver's (see :meth:`storage_errors`)."""
        cursor = self.connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def _begin_no_wait(self, cursor: Any) -> None:
        cursor.execute("PRAGMA busy_timeout = 0")
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except self._dbapi_error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF == _SQLITE_BUSY:
                raise WriteLockBusy from None
            raise
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


@contextlib.contextmanager
def driver_connection(engine: Engine) -> Iterator[DriverConnection]:
    """A pooled DBAPI connection for several transactions in turn (driver errors become
    :class:`~elicense.errors.StorageError`); returned to the pool at the end."""
    connection = DriverConnection.check_out(engine)
    try:
        with connection.storage_errors():
            yield connection
    finally:
        connection.close()


def writes_in_one_statement(dialect: Dialect) -> bool:
    """Whether one statement can update and insert at once (data-modifying statements
    in ``WITH``, as PostgreSQL has; SQLite has not): where it can, a hot path's writes
    are one round trip, atomic on their own."""
    return dialect.name == "postgresql"


def _connect(engine: Engine) -> Any:
    """A pooled DBAPI connection, or :class:`~elicense.errors.StorageError`."""
    try:
        return engine.raw_connection()
    except (OperationalError, engine.dialect.loaded_dbapi.OperationalError) as exc:
        # a connect error, wrapped by SQLAlchemy or not (depending on the pool)
        raise storage_error(exc) from None


def storage_error(exc: BaseException) -> StorageError:
    """The :class:`~elicense.errors.StorageError` for a driver error: its first line,
    never the driver's stack trace (wrapped by SQLAlchemy or not)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    return StorageError(f"database error: {text.splitlines()[0][:200] if text else 'unknown'}")
