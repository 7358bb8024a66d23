"""DuckDB connections for one database, and how several processes share one database file.

DuckDB lets one process at a time open a file read-write; a second gets a lock error. The
dashboard, the API and the command line may all run on one file, so none of them keeps it
open: a file database is open only while some unit of work in the process needs it.

- ``session()`` is a unit of work: the first one opens the file, the last one to end closes
  it (and with it the lock). Sessions on several threads share the one open connection.
  Entry points open one around their work: a CLI command (``with Store(...)``), an API
  request, a dashboard page run.
- ``cursor()`` returns a cursor that holds a session for as long as it is referenced, so the
  file stays open while a statement runs and its rows are read, and code that never opens a
  session itself still works; each thread gets its own underlying cursor, as before.
- Opening waits for another process to let go: a lock error is retried with backoff for up
  to ``lock_timeout`` seconds (``DEALCAST_DB_LOCK_TIMEOUT``), then ``DatabaseBusyError`` says
  which process holds the file. No lock error reaches a user.
- Turns are fair under load: a busy process (the API with many requests in flight) would
  otherwise keep the file open without a gap. A process that waits for the file says so with
  a shared lock on ``<file>.wait`` (the waiting room); a process holding the file checks the
  room before each new session, and when someone waits it lets no new session start, closes
  the file once its current ones end, and starts again only once the waiter got in (or after
  ``YIELD_LIMIT``). Sessions do not nest; statements inside one (``cursor()``) never wait.
  The waiting room uses POSIX ``flock``; where there is none, turns are only as fair as the
  lock retries.

Opening a file costs tens of milliseconds, which is why entry points group their work into
one session. ``:memory:`` and MotherDuck (``md:``) databases are held for the life of the
store: there is no file to share (MotherDuck serves many processes itself).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import duckdb

from core.errors import DealcastError, InputError, first_line

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no waiting room
    fcntl = None

#: First and longest pause between attempts to open a file another process holds (a failed
#: attempt costs ~10-30 ms; the longest pause is how long a holder's gap must last at least).
FIRST_WAIT, LONGEST_WAIT = 0.02, 0.2
#: Longest time a process that made way for a waiting one stays away from the file.
YIELD_LIMIT = 5.0
#: How often a process that made way looks whether the waiter got in.
YIELD_POLL = 0.01
_LOCK_ERROR = re.compile(r"Could not set lock on file|Conflicting lock", re.IGNORECASE)
_HOLDER = re.compile(r"\(PID (\d+)\)")


class DatabaseBusyError(DealcastError):
    """Raised when another process kept the database file for longer than the lock timeout."""


def shares_a_file(database: str) -> bool:
    """True for a database file (other processes may open it too), False for memory or MotherDuck."""
    return database not in ("", ":memory:") and not database.startswith(("md:", "motherduck:", ":memory:"))


class Connections:
    """The connection to one database: held for life, or (a file) only while sessions are open."""

    def __init__(
        self,
        database: str,
        *,
        lock_timeout: float,
        read_only: bool = False,
        on_first_open: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> None:
        """``on_first_open`` runs on the connection the first time the database is opened (a
        file: at the first session; else here); if it raises, the connection is closed again."""
        self.database = database
        self.read_only = read_only
        self.lock_timeout = lock_timeout
        self.shared = shares_a_file(database)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # holders dropped, or a yield ended
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._holders = 0
        self._yielding = False  # making way for another process: no new session starts
        self._room = WaitingRoom(database) if self.shared else None
        self._generation = 0  # bumped on every close: threads' cursors of an older one are gone
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._closed = False
        self._on_first_open = on_first_open
        if not self.shared:
            self._conn = self._first_open(self._open())

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Hold the database open for a unit of work (opening it, waiting for the lock if needed,
        and first making way for another process that waits for the file)."""
        self._take_turn()
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def acquire(self) -> None:
        with self._changed:
            if self._closed:
                raise RuntimeError("This Store has been closed; open a new one.")
            while self._yielding and self._holders == 0:  # not inside a session: wait too
                self._changed.wait()
            if self._conn is None:
                self._conn = self._first_open(self._connect())
            self._holders += 1

    def release(self) -> None:
        with self._changed:
            self._holders -= 1
            if self._holders == 0 and self.shared:
                self._disconnect()
            self._changed.notify_all()

    def _take_turn(self) -> None:
        """Before a new session: when the file is open here and another process waits for it,
        let this process's sessions end, the file close and the waiter in, then go on."""
        with self._changed:
            while self._yielding:
                self._changed.wait()
            if self._conn is None or self._room is None or not self._room.occupied():
                return
            self._yielding = True
            deadline = time.monotonic() + self.lock_timeout
            while self._holders and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            closed = self._conn is None
        try:
            if closed:  # wait until the waiter has the file
                self._room.wait_until_empty(YIELD_LIMIT)
        finally:
            with self._changed:
                self._yielding = False
                self._changed.notify_all()

    @contextlib.contextmanager
    def holding(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's cursor, with the database held until the block ends: the explicit form
        of ``cursor()``, whose hold ends when the wrapper is dropped (CPython: at once)."""
        self.acquire()
        try:
            yield self.thread_cursor()
        finally:
            self.release()

    def cursor(self) -> Any:
        """This thread's cursor; for a shared file, wrapped so it holds a session while referenced."""
        if not self.shared:
            return self.thread_cursor()
        return _HeldCursor(self)

    def own_cursor(self) -> Any:
        """A new cursor of the caller's own, to ``close()`` when done (for a file, it holds a
        session until then)."""
        if not self.shared:
            with self._lock:
                if self._closed or self._conn is None:
                    raise RuntimeError("This Store has been closed; open a new one.")
                return self._conn.cursor()
        return _HeldCursor(self, own=True)

    def thread_cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._closed:
                raise RuntimeError("This Store has been closed; open a new one.")
            if self._conn is None:
                raise RuntimeError("No session is open on this database.")
            cur = getattr(self._local, "cursor", None)
            if cur is None or getattr(self._local, "generation", None) != self._generation:
                cur = self._conn.cursor()
                self._local.cursor, self._local.generation = cur, self._generation
                self._cursors.append(cur)
            return cur

    def close(self) -> None:
        with self._lock:
            self._disconnect()
            self._closed = True
            if self._room is not None:
                self._room.close()

    def _disconnect(self) -> None:
        for cur in self._cursors:
            cur.close()
        self._cursors.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._generation += 1

    def _first_open(self, conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        if self._on_first_open is not None:
            try:
                self._on_first_open(conn)
            except BaseException:
                conn.close()
                raise
            self._on_first_open = None
        return conn

    def _open(self) -> duckdb.DuckDBPyConnection:
        """One attempt to open the database; InputError when it cannot be opened at all."""
        try:
            return duckdb.connect(self.database, read_only=self.read_only)
        except duckdb.Error as exc:
            if _LOCK_ERROR.search(str(exc)):
                raise _LockHeldError from exc
            raise InputError(f"The database {self.database} cannot be opened: {first_line(exc)}") from None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """Open the file, retrying while another process holds its lock, up to ``lock_timeout``
        (in the waiting room meanwhile, so that the holder makes way)."""
        try:
            return self._open()
        except _LockHeldError:
            pass
        with self._room.waiting():
            return self._wait_for_file()

    def _wait_for_file(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout
        wait = FIRST_WAIT
        while True:
            try:
                return self._open()
            except _LockHeldError as held:
                exc = held.__cause__
                if time.monotonic() + wait > deadline:
                    holder = _HOLDER.search(str(exc))
                    who = f"another process (PID {holder.group(1)})" if holder else "another process"
                    raise DatabaseBusyError(
                        f"The database {self.database} is busy: {who} has kept it for over "
                        f"{self.lock_timeout:g} s. Try again in a moment, or raise DEALCAST_DB_LOCK_TIMEOUT."
                    ) from None
                time.sleep(wait * random.uniform(0.5, 1.0))
                wait = min(wait * 2, LONGEST_WAIT)


class WaitingRoom:
    """``<database file>.wait``: a process waiting for the file holds a shared ``flock`` on it,
    so the process holding the file can see that someone waits (and make way)."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}.wait"
        self._fd: int | None = None

    def _open(self) -> int | None:
        if fcntl is None:
            return None
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:  # a folder this process cannot write: no room, no signal
            return None

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Be in the room while the block runs."""
        fd = self._open()
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing lets go of the lock

    def occupied(self) -> bool:
        """Whether another process is waiting for the file now."""
        if self._fd is None:
            self._fd = self._open()
            if self._fd is None:
                return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def wait_until_empty(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        while self.occupied() and time.monotonic() < deadline:
            time.sleep(YIELD_POLL)


class _LockHeldError(Exception):
    """Internal: another process holds the file's lock (the DuckDB error is the cause)."""


class _HeldCursor:
    """A thread's cursor on a shared file that keeps the file open while this object lives.

    ``execute`` returns the wrapper itself, so ``store.cursor().execute(...).fetchall()``
    holds the file until the rows are read; everything else is the DuckDB cursor's own.
    """

    def __init__(self, connections: Connections, *, own: bool = False) -> None:
        self._connections = connections
        self._held = False
        connections.acquire()
        self._held = True
        try:
            with connections._lock:
                self._cursor = connections._conn.cursor() if own else connections.thread_cursor()
        except BaseException:
            self._let_go()
            raise
        self._own = own

    def cursor(self) -> _HeldCursor:
        """A new cursor of its own (DuckDB's ``cursor().cursor()``), holding the file until closed."""
        return _HeldCursor(self._connections, own=True)

    def __enter__(self) -> _HeldCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close an own cursor and let go of the file (a thread's cursor stays for the thread)."""
        if self._own:
            self._cursor.close()
        self._let_go()

    def _let_go(self) -> None:
        if self._held:
            self._held = False
            self._connections.release()

    def execute(self, *args: Any, **kwargs: Any) -> _HeldCursor:
        self._cursor.execute(*args, **kwargs)
        return self

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._cursor, name)
        if not callable(attribute):
            return attribute

        def held(*args: Any, **kwargs: Any) -> Any:
            # Refers to self, so the file stays open until the call (e.g. fetchone()) is done.
            return getattr(self._cursor, name)(*args, **kwargs)

        return held

    def __del__(self) -> None:
        self._let_go()
