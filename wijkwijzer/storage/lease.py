"""One writer among several server processes: a lease on a lock file in the data folder.

Every worker of `wijkwijzer serve --prod` runs the content watcher and the embedding loop, but only the process
holding the lease writes (re-indexes changed files, embeds new passages); the others read the generations it
commits and the vectors it stores. The lease is an exclusive `flock`: the kernel releases it when its holder
exits or is killed, and the next worker to try takes over. Whoosh's own write lock still serialises any other
writer, such as `wijkwijzer index` run by hand.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path


class WriterLease:
    """A non-blocking, process-wide exclusive lease; once taken it is kept until `release()` or exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        """True while this object holds the lease."""
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lease if no other process (or other lease object) holds it; True if held afterwards."""
        with self._lock:
            if self._fd is not None:
                return True
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                return False  # e.g. a read-only data folder: then nobody here may write anyway
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._fd = fd  # held from here on, even if noting the holder below fails (a full disk)
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            except OSError:
                pass
            return True

    def release(self) -> None:
        """Give the lease back (closing the file releases the lock)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
