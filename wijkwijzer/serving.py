"""The production server: gunicorn with several worker processes, each with worker threads.

Every worker builds its own app (no preloading: the index readers, SQLite connections and background threads of
one process must not be forked into another). The parent brings the index up to date once before the workers
start; after that the workers share the data folder: SQLite in WAL mode, Whoosh generations that every reader
picks up, and one writer at a time through the lease in `wijkwijzer.storage.lease`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading

from wijkwijzer.config import Settings

log = logging.getLogger(__name__)


def exit_without_teardown_if_busy() -> None:
    """End a worker at once when a background thread is still running after the services closed.

    Closing the services stops the passage embedder after its current batch (a few seconds); should a thread
    still be busy after that (a batch on a slow machine, a query being embedded), interpreter teardown would
    run PyTorch's static destructors while that thread is inside PyTorch, which aborts the worker ("terminate
    called without an active exception", SIGABRT). Everything worth keeping is written by then (vectors are
    stored per batch, SQLite and the index are closed), so the worker ends with os._exit(0) after flushing its
    output; without busy threads it exits the normal way.
    """
    busy = [t.name for t in threading.enumerate() if t is not threading.current_thread() and t.is_alive()]
    if not busy:
        return
    log.info("werkproces stopt zonder afbouw; nog bezig: %s", ", ".join(busy))
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def dev_request_handler(settings: Settings) -> type:
    """werkzeug's request handler for `wijkwijzer serve` (development) with a time limit on every read and write.

    The development server gives each connection its own thread, so idle clients do not block others; the
    limit (`request_timeout`) ends connections that stopped sending or reading, so their threads do not pile up.
    """
    from werkzeug.serving import WSGIRequestHandler

    return type("TimedRequestHandler", (WSGIRequestHandler,), {"timeout": settings.request_timeout})


def client_timeouts_worker(settings: Settings) -> type | str:
    """The gunicorn worker class: gthread with the header and request time limits of `settings` (see
    `wijkwijzer.timeouts`), or plain gthread with a warning where this gunicorn lacks what they rely on."""
    from wijkwijzer import timeouts

    if timeouts.supported():
        return timeouts.timed_worker_class(settings.header_timeout, settings.request_timeout)
    log.warning("deze gunicorn-versie wordt niet herkend: geen tijdslimiet voor trage verbindingen (alleen "
                "keep-alive); zet een buffering proxy (nginx) voor de server")
    return "gthread"


def serve_production(settings: Settings, host: str, port: int, workers: int, threads: int) -> None:
    """Run gunicorn in the foreground until it is stopped (SIGTERM/SIGINT stop it gracefully)."""
    from gunicorn.app.base import BaseApplication

    from wijkwijzer import create_app

    if workers > 1 and settings.ratelimits and settings.ratelimit_storage.startswith("memory://"):
        log.warning("rate limits count per worker process with memory:// storage (%d workers: up to %dx the limit);"
                    " set WIJKWIJZER_RATELIMIT_STORAGE=redis://... to share them", workers, workers)

    worker_class = client_timeouts_worker(settings)

    def worker_exit(server, worker) -> None:
        app = getattr(worker, "wsgi", None)  # the Flask app load() returned
        if app is not None and "wijkwijzer" in getattr(app, "extensions", {}):
            app.extensions["wijkwijzer"].close()  # gives the writer lease back at once, stops our threads
        exit_without_teardown_if_busy()

    class Server(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": worker_class,
                "timeout": 120,  # a worker loading the embedding model for its first semantic query is not stuck
                "graceful_timeout": 30,
                "keepalive": settings.keepalive,
                "proc_name": "wijkwijzer",
                "accesslog": None,  # URLs hold status-link tokens: no access log (AVG); errors still go to stderr
                "errorlog": "-",
                "loglevel": "info",
                "worker_exit": worker_exit,
            }
            # Newer gunicorn opens a control socket in the home folder: unused here, and two instances on one
            # machine would share its path.
            if "control_socket_disable" in self.cfg.settings:
                options["control_socket_disable"] = True
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            # The forwarded-for header counts as far as WIJKWIJZER_TRUSTED_PROXIES says (create_app applies it).
            return create_app(settings, sync=False)

    Server().run()
