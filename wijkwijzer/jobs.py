"""Periodic jobs of the running site (sending due mail, daily digests, invitation reminders): a small registry
that one background thread per process runs. Jobs must be safe to run in several processes at once (each claims
its work inside a transaction), because every server process runs them. With several servers on one PostgreSQL
database each job also takes a lock of the cluster (`Store.job_lock`: pg_try_advisory_lock), so exactly one
server runs it at a time; the others skip that turn."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from wijkwijzer.storage.engine import StorageUnavailable

log = logging.getLogger(__name__)


@dataclass
class Job:
    """A named task run every `every`; `run(now)` does one round of work."""

    name: str
    every: dt.timedelta
    run: Callable[[dt.datetime], object]
    next_run: dt.datetime | None = None


class Jobs:
    """The registry: `add` jobs while building the services, `run_due(now)` runs the ones whose time has come."""

    def __init__(self, lock: Callable[[str], AbstractContextManager[bool]] | None = None) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        # `lock(name)` yields whether this process may run the job now (the composition root passes
        # Store.job_lock); without one every job may run.
        self.lock = lock or (lambda name: contextlib.nullcontext(True))

    def add(self, name: str, every_seconds: float, run: Callable[[dt.datetime], object]) -> None:
        """Register (or replace) a job; it first runs on the next round."""
        with self._lock:
            self._jobs[name] = Job(name, dt.timedelta(seconds=every_seconds), run)

    def all(self) -> list[Job]:
        """Every registered job."""
        with self._lock:
            return list(self._jobs.values())

    def run_due(self, now: dt.datetime | None = None, force: bool = False) -> list[str]:
        """Run every job that is due (all of them with `force`); a failing job is logged and tried again on its
        next turn, and never stops the others. Returns the names of the jobs that ran."""
        now = now or dt.datetime.now(dt.UTC)
        ran = []
        for job in self.all():
            if not force and job.next_run is not None and job.next_run > now:
                continue
            job.next_run = now + job.every
            try:
                with self.lock(job.name) as mine:
                    if not mine:  # another server runs it right now
                        continue
                    job.run(now)
            except StorageUnavailable as exc:  # the database is down: one line, not a traceback every round
                log.warning("achtergrondtaak %s wacht op de database (%s); volgende poging over %s", job.name, exc,
                            job.every)
            except Exception:
                log.exception("achtergrondtaak %s mislukt; volgende poging over %s", job.name, job.every)
            ran.append(job.name)
        return ran

    def start(self, stop: threading.Event, interval: float) -> threading.Thread | None:
        """Run due jobs every `interval` seconds in a daemon thread until `stop` is set (None for interval 0)."""
        if interval <= 0:
            return None

        def loop() -> None:
            while not stop.wait(interval):
                self.run_due()

        thread = threading.Thread(target=loop, name="wijkwijzer-jobs", daemon=True)
        thread.start()
        return thread
