"""Postings warm-up: read the frequent postings of new segments ahead, in a background thread, so the first
searches in a new process, or after a merge, are as fast as later ones."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from wijkwijzer.search.ranking import PostingsCache, Snapshot

log = logging.getLogger(__name__)


class PostingsWarmup:
    """At most one warm-up thread at a time; a running one picks up the segments of newer generations (a merge
    during a warm-up is warmed too) before it ends. Segments count as warmed only when a run finished."""

    def __init__(self, postings: PostingsCache, fields: tuple[str, ...],
                 current: Callable[[], Snapshot | None]) -> None:
        """`current` gives the newest snapshot of the index (None when there is none)."""
        self.postings = postings
        self.fields = fields
        self._current = current
        self._lock = threading.Lock()
        self._warmed: set[str] = set()  # segment ids whose frequent postings were read ahead
        self._running: tuple[threading.Thread, threading.Event] | None = None  # the running warm-up, its stop

    def start(self, snap: Snapshot) -> None:
        """Warm the segments of `snap` not warmed yet, unless a warm-up already runs (it picks them up)."""
        with self._lock:
            if self._running is not None or not self._unwarmed(snap):
                return
            stop = threading.Event()
            self._running = (threading.Thread(target=self._loop, args=(stop,), name="wijkwijzer-postings-warmup",
                                              daemon=True), stop)
            self._running[0].start()

    def _unwarmed(self, snap: Snapshot | None) -> list[tuple[object, str]]:
        return [(segment, key) for segment, key in snap.segments if key not in self._warmed] if snap else []

    def _loop(self, stop: threading.Event) -> None:
        while True:
            snap = self._current()
            with self._lock:
                todo = self._unwarmed(snap)
                if stop.is_set() or not todo:
                    if self._running is not None and self._running[1] is stop:
                        self._running = None
                    return
            try:
                self.postings.warm(todo, self.fields, stop=stop)
            except Exception as exc:
                # A reader closed under us while stopping is expected; anything else is worth a look, and
                # searches then read those postings on demand (slower first searches, same results).
                if stop.is_set():
                    log.debug("postings warm-up stopped", exc_info=True)
                else:
                    log.warning("vooraf lezen van postings mislukt (%s); zoeken leest ze bij gebruik", exc,
                                exc_info=True)
                stop.set()
                continue
            with self._lock:
                if not stop.is_set():  # only a finished run counts: a stopped one is tried again
                    self._warmed.update(key for _, key in todo)
                current = self._current()
                self._warmed &= {key for _, key in current.segments} if current else set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running warm-up (benchmarks and tests). True when none runs any more."""
        running = self._running
        if running is not None:
            running[0].join(timeout)
        return running is None or not running[0].is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop a running warm-up and wait for it; one started meanwhile is told to stop too."""
        with self._lock:
            running = self._running
        if running is not None:
            running[1].set()
            running[0].join(timeout)
        with self._lock:
            if self._running is not None:  # started by a search meanwhile: it ends on the closed reader
                self._running[1].set()

    def forget(self) -> None:
        """Drop every posting read or read ahead so far, as in a new process (benchmarks)."""
        self.stop()
        with self._lock:
            self.postings.clear()
            self._warmed.clear()
