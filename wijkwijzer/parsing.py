"""Parsing one file under a time budget (habit 10), in a worker process that can be stopped.

Every pattern we own runs in linear time, but a file also goes through YAML and third-party code. A file that
takes longer than the budget is reported as an error naming the file and skipped, and the site keeps serving.
A thread cannot be stopped inside a regex or a C call, so the parse runs in a separate process, which is killed
past the budget and started again for the next file. The process comes from a fork server (never a fork of a
web process, which holds threads and perhaps a model) and stays up between files: a round trip costs well under
a millisecond, so a full index of 10,000 files pays about a second for the isolation.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import threading
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TypeVar

from wijkwijzer.domain.problems import Problem

PARSE_BUDGET = 5.0  # seconds for one file; a normal file takes about a millisecond
START_TIMEOUT = 60.0  # a fresh worker imports the parsers first; that is not the file's time
_PRELOAD = ["wijkwijzer.domain.content", "wijkwijzer.domain.pool"]
T = TypeVar("T")
log = logging.getLogger(__name__)


class OverBudget(Exception):
    """Parsing one file took longer than the budget; the worker was stopped."""


class WorkerFailed(Exception):
    """The worker process died while parsing (out of memory, a crash in a C library)."""


def over_budget_message(budget: float) -> str:
    """The Dutch problem text for a file that took too long."""
    return (f"het inlezen duurde langer dan {budget:g} s en is afgebroken; het bestand wordt overgeslagen "
            "(maak het kleiner of eenvoudiger, of splits het)")


class _Kept:
    """An argument the worker keeps (a taxonomy): sent once, then named by its key."""

    def __init__(self, key: int, value: object = None) -> None:
        self.key, self.value = key, value


def _serve(conn: Connection) -> None:
    """The worker: answer ("ok", result) or ("error", exception) per (function, args) until the pipe closes."""
    conn.send(("ready", None))
    kept: dict[int, object] = {}
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        for arg in args:
            if isinstance(arg, _Kept) and arg.value is not None:
                kept = {arg.key: arg.value} if len(kept) > 8 else {**kept, arg.key: arg.value}
        args = [kept[arg.key] if isinstance(arg, _Kept) else arg for arg in args]
        try:
            answer = ("ok", fn(*args))
        except Exception as exc:  # the caller raises it again, as if the parse had run here
            answer = ("error", exc)
        conn.send(answer)


def _stop(process: multiprocessing.process.BaseProcess | None, conn: Connection | None, owner: int) -> None:
    if os.getpid() != owner:
        return  # a forked copy of the owner (a gunicorn worker): the process is not this one's to stop
    if conn is not None:
        conn.close()
    if process is not None and process.is_alive():
        process.kill()
        process.join(5)


_workers: weakref.WeakSet[ParseWorker] = weakref.WeakSet()
_fork_hook = False


def _after_fork_in_child() -> None:
    """In a process forked from one with parse workers (gunicorn's master indexes before it forks workers).

    The parent's worker processes and its fork server are the parent's: forget them (a child that used or
    stopped them would break the parent's, and multiprocessing would try to join them when the child exits) and
    start its own when it first parses. The fork server's state is private to multiprocessing, so this checks
    each attribute it resets; without them, the child parses without a budget and says so.
    """
    for worker in list(_workers):
        worker._forget()
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    names = ("_forkserver_pid", "_forkserver_address", "_forkserver_alive_fd")
    if server is None or not all(hasattr(server, name) for name in names):
        ParseWorker.fork_server_usable = False
        return
    if server._forkserver_alive_fd is not None:
        with contextlib.suppress(OSError):
            os.close(server._forkserver_alive_fd)  # the parent's fork server ends when the parent does
    for name in names:
        setattr(server, name, None)
    if hasattr(server, "_inherited_fds"):
        server._inherited_fds = None
    if hasattr(server, "_lock"):
        server._lock = threading.Lock()  # another thread of the parent may have held it at the fork


class ParseWorker:
    """Runs a parse function in a worker process, one call at a time, each within `budget` seconds."""

    fork_server_usable = True

    def __init__(self, budget: float | None = None) -> None:
        self.budget = PARSE_BUDGET if budget is None else budget
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._in_process = False  # set when no worker can be started here: parse without a budget
        self._finalizer: weakref.finalize | None = None
        self._kept: dict[int, object] = {}
        self._keys = itertools.count()
        global _fork_hook
        if not _fork_hook:
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _fork_hook = True
        _workers.add(self)

    def call(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` in the worker; raises OverBudget past the budget, WorkerFailed if the worker died."""
        with self._lock:
            if self._in_process or not self.fork_server_usable:
                return fn(*args)
            if (self._process is None or not self._process.is_alive()) and not self._start():
                return fn(*args)
            assert self._conn is not None
            try:
                self._conn.send((fn, [self._keep(arg) for arg in args]))
                if not self._conn.poll(self.budget):
                    self._restart_later()
                    raise OverBudget(over_budget_message(self.budget))
                kind, value = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError) as exc:
                self._restart_later()
                raise WorkerFailed(str(exc) or type(exc).__name__) from exc
        if kind == "error":
            raise value
        return value

    def parse(self, fn: Callable[..., T], relative: str, *args: object, failed: Callable[[Problem], T]) -> T:
        """`fn(relative, *args)` within the budget; a file that runs past it or takes the worker down gives
        `failed(problem)`, the problem naming the file, and the next file is parsed as usual."""
        try:
            return self.call(fn, relative, *args)
        except OverBudget as exc:
            return failed(Problem(relative, 1, "bestand", str(exc)))
        except WorkerFailed as exc:
            return failed(Problem(relative, 1, "bestand", f"het inlezen brak af ({exc}); het bestand wordt "
                                                          "overgeslagen"))

    def _keep(self, arg: object) -> object:
        """Plain values travel each time; other objects (a taxonomy: pickling it cost more than the parse) once."""
        if arg is None or isinstance(arg, str | bytes | int | float):
            return arg
        for key, value in self._kept.items():
            if value is arg:
                return _Kept(key)
        if len(self._kept) > 8:  # the worker drops its objects at the same count
            self._kept.clear()
        key = next(self._keys)
        self._kept[key] = arg  # a reference, so that the object (and its identity) outlives the call
        return _Kept(key, arg)

    def close(self) -> None:
        """Stop the worker (it also stops by itself when this process ends: its pipe closes)."""
        with self._lock:
            self._restart_later()

    def _forget(self) -> None:
        """Drop the parent's worker without touching it (after a fork, in the child)."""
        if self._finalizer is not None:
            self._finalizer.detach()
        children = getattr(multiprocessing.process, "_children", None)
        if isinstance(children, set) and self._process is not None:
            children.discard(self._process)  # else multiprocessing joins it when this process exits
        self._process = self._conn = self._finalizer = None
        self._kept.clear()
        self._lock = threading.Lock()

    def _restart_later(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # kills the process and closes the pipe, once
        self._process = self._conn = self._finalizer = None
        self._kept.clear()

    def _start(self) -> bool:
        try:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)  # only used when this process starts its fork server
            parent, child = ctx.Pipe()
            process = ctx.Process(target=_serve, args=(child,), daemon=True, name="wijkwijzer-parse")
            process.start()
            child.close()
            if not parent.poll(START_TIMEOUT) or parent.recv()[0] != "ready":
                raise OSError("the parse worker did not start")
        except (OSError, EOFError, ValueError) as exc:
            log.warning("geen werkproces voor het inlezen (%s); bestanden worden zonder tijdslimiet gelezen", exc)
            self._in_process = True
            return False
        self._process, self._conn = process, parent
        self._finalizer = weakref.finalize(self, _stop, process, parent, os.getpid())
        return True
