"""The composition root: builds the store, the index and the knowledge base from Settings.

The web app and the CLI both get a `Services` and call its methods; neither builds these parts itself.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from wijkwijzer.config import Settings
from wijkwijzer.knowledge import KnowledgeBase, SyncReport
from wijkwijzer.search.analysis import dutch_lexicon
from wijkwijzer.search.fulltext import FulltextIndex
from wijkwijzer.search.models import SearchRequest, SearchResponse
from wijkwijzer.storage import Store

log = logging.getLogger(__name__)
MODES = ("keyword",)


class UnknownMode(ValueError):
    """A search mode we do not offer; the message lists the allowed ones."""


@dataclass
class Services:
    """Everything a request handler or CLI command needs, built once per app or command."""

    settings: Settings
    store: Store
    index: FulltextIndex
    knowledge: KnowledgeBase
    _cache: OrderedDict = field(default_factory=OrderedDict)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock)
    _watcher: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Create the data folder, open the database and the index."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(settings.database_path)
        index = FulltextIndex(settings.index_dir)
        knowledge = KnowledgeBase(settings.content_dir, index, store, procs=max(1, min(4, os.cpu_count() or 1)))
        return cls(settings=settings, store=store, index=index, knowledge=knowledge)

    # -- search --------------------------------------------------------------------------------------------
    def search(self, request: SearchRequest, mode: str = "keyword") -> SearchResponse:
        """Run a search; answers are cached per index generation (the cache empties when the index changes)."""
        if mode not in MODES:
            raise UnknownMode(f"onbekende zoekmodus '{mode}'; kies uit: {', '.join(MODES)}")
        key = (self.index.generation(), mode, request.cache_key())
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        response = self.index.search(request)
        with self._cache_lock:
            self._cache[key] = response
            while len(self._cache) > 512:
                self._cache.popitem(last=False)
        return response

    def case(self, slug: str) -> dict | None:
        """One stored case study."""
        return self.index.get(slug)

    def related(self, slug: str, limit: int = 5) -> list[dict]:
        """Similar case studies for a case page."""
        return self.index.more_like(slug, limit)

    def newest(self, limit: int = 6) -> list[dict]:
        """The most recent case studies."""
        return self.search(SearchRequest(sort="date", per_page=limit)).hits

    def status(self) -> dict:
        """Index state for `/api/v1/status` and the CLI."""
        run = self.store.last_index_run()
        changed = self.store.last_index_run(with_changes=True)
        return {
            "documents": self.index.count(),
            "last_indexed": changed["finished"] if changed else None,
            "errors": [p for p in (run["problems"] if run else []) if p["severity"] == "error"],
            "warnings": len([p for p in (run["problems"] if run else []) if p["severity"] == "warning"]),
        }

    # -- indexing ------------------------------------------------------------------------------------------
    def sync(self, **kwargs) -> SyncReport:
        """Bring the index in line with the content folder."""
        return self.knowledge.sync(**kwargs)

    def start_watching(self) -> None:
        """Re-sync the content folder every `watch_interval` seconds in a daemon thread."""
        if self.settings.watch_interval <= 0 or self._watcher is not None:
            return

        def loop() -> None:
            dutch_lexicon()  # load the compound word list now, not on the first edit an editor makes
            while not self._stop.wait(self.settings.watch_interval):
                try:
                    report = self.knowledge.sync()
                    if report.written or report.removed:
                        log.info("index bijgewerkt: %d gewijzigd, %d verwijderd", report.written, report.removed)
                except Exception:
                    log.exception("synchroniseren van de inhoud mislukt; volgende poging over %ss",
                                  self.settings.watch_interval)

        self._watcher = threading.Thread(target=loop, name="wijkwijzer-watcher", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        """Stop the watcher and release the index."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self.index.close()
