"""The composition root: builds the store, the index and the knowledge base from Settings.

The web app and the CLI both get a `Services` and call its methods; neither builds these parts itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from wijkwijzer.config import Settings
from wijkwijzer.domain.helprequests import (
    DEFAULT_HOURS,
    AssignmentRefused,
    FormResult,
    HelpRequest,
    period,
    to_help_request,
    validate_form,
)
from wijkwijzer.domain.matching import MatchResult, exclusion
from wijkwijzer.expertise import ExpertPool
from wijkwijzer.knowledge import KnowledgeBase, SyncReport
from wijkwijzer.parsing import ParseWorker
from wijkwijzer.search import whoosh_patches
from wijkwijzer.search.embedders import Embedder, SentenceTransformerEmbedder
from wijkwijzer.search.fulltext import FulltextIndex
from wijkwijzer.search.hybrid import HybridSearch
from wijkwijzer.search.models import Hit, SearchRequest, SearchResponse
from wijkwijzer.search.semantic import SemanticIndex
from wijkwijzer.storage.accounts import Accounts
from wijkwijzer.storage.audit import AuditLog
from wijkwijzer.storage.db import Store
from wijkwijzer.storage.lease import WriterLease
from wijkwijzer.storage.requests import RequestStore
from wijkwijzer.storage.runs import IndexRuns
from wijkwijzer.storage.vectors import VectorCache
from wijkwijzer.text.dutch import dutch_lexicon

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a request handler or CLI command needs, built once per app or command."""

    settings: Settings
    store: Store
    index: FulltextIndex
    knowledge: KnowledgeBase
    semantic: SemanticIndex
    pool: ExpertPool
    requests: RequestStore
    accounts: Accounts
    audit: AuditLog
    runs: IndexRuns
    writer: WriterLease
    hybrid: HybridSearch
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _watcher: threading.Thread | None = None
    _semantic_thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _executor: ThreadPoolExecutor | None = None

    @classmethod
    def build(cls, settings: Settings, embedder: Embedder | None = None, index_procs: int | None = None,
              warm_postings: bool = False) -> Services:
        """Create the data folder, open the database and the index; configure (not load) the embedding model.

        `index_procs` caps the processes of a large re-index (default: up to 4 cores). A web process passes 1: a
        Whoosh writer process forked from it would inherit its threads and the writer lease's lock. A web
        process also reads the frequent postings ahead (`warm_postings`), which a command that exits would waste.
        """
        whoosh_patches.install()  # before any index is read: concurrent searches rely on it
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(settings.database_path)
        runs, vectors = IndexRuns(store), VectorCache(store)
        index = FulltextIndex(settings.index_dir, warm=warm_postings)
        procs = index_procs or max(1, min(4, os.cpu_count() or 1))
        parser = ParseWorker()  # one worker process parses content and pool files, each within its budget
        knowledge = KnowledgeBase(settings.content_dir, index, runs, procs=procs, parser=parser)
        reason = None
        if embedder is None:
            embedder, reason = make_embedder(settings)
        semantic = SemanticIndex(vectors, embedder, reason)
        pool = ExpertPool(settings.experts_dir, vectors, lambda: knowledge.taxonomy, embedder, parser=parser)
        return cls(settings=settings, store=store, index=index, knowledge=knowledge, semantic=semantic, pool=pool,
                   requests=RequestStore(store), accounts=Accounts(store), audit=AuditLog(store), runs=runs,
                   writer=WriterLease(settings.data_dir / "writer.lock"),
                   hybrid=HybridSearch(index, semantic, settings.semantic_ratio))

    # -- search (search.hybrid does the work) -------------------------------------------------------------
    def default_mode(self) -> str:
        """Hybrid once the semantic index is ready, keyword before that."""
        return self.hybrid.default_mode()

    def search(self, request: SearchRequest, mode: str | None = None) -> SearchResponse:
        """Run a search in `mode` (default: `default_mode()`); see HybridSearch.search. Raises UnknownMode."""
        return self.hybrid.search(request, mode)

    def case(self, slug: str) -> dict | None:
        """One stored case study."""
        return self.index.get(slug)

    def related(self, slug: str, limit: int = 5) -> list[dict]:
        """Similar case studies for a case page: by meaning when the semantic index is ready, else by words."""
        return self.hybrid.related(slug, limit)

    def newest(self, limit: int = 6) -> list[Hit]:
        """The most recent case studies (hits)."""
        return self.hybrid.newest(limit)

    def status(self) -> dict:
        """Index state for `/api/v1/status` and the CLI."""
        run = self.runs.last()
        changed = self.runs.last(with_changes=True)
        return {
            "documents": self.index.count(),
            "last_indexed": changed["finished"] if changed else None,
            "errors": [p for p in (run["problems"] if run else []) if p["severity"] == "error"],
            "warnings": len([p for p in (run["problems"] if run else []) if p["severity"] == "warning"]),
            "semantic": self.semantic.status().to_dict(),
            "storage": {"writable": self.store.read_only is None, "error": self.store.read_only},
        }

    # -- matching ------------------------------------------------------------------------------------------
    def match(self, request: HelpRequest, limit: int = 5) -> dict:
        """Matches for one help request, with the three most relevant case studies, as the API answers them.

        Raises expertise.BadRequest (naming the field) for a municipality or theme we do not know.
        """
        result = self.pool.match(request, limit=limit)
        cases = self.search(SearchRequest(text=request.text, per_page=3)).hits
        return match_answer(result, cases)

    def submit_request(self, form: dict, today: dt.date | None = None) -> tuple[FormResult, str | None]:
        """Validate and store a help request from the public form; the token is for the submitter's status link."""
        result = validate_form(form, self.pool.gemeenten, self.knowledge.taxonomy, today or dt.date.today())
        if result.data is None:
            return result, None
        _, token = self.requests.submit(result.data)
        if self.pool.embedder is not None:
            # Embed the question now, off the request path: the coordinator's first look needs no model time.
            self._background().submit(self._embed_quietly, result.data["question"])
        return result, token

    def _background(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wijkwijzer-background")
            return self._executor

    def _embed_quietly(self, text: str) -> None:
        try:
            self.pool.query_vectors([text])
        except Exception:
            log.exception("hulpvraag vooraf embedden mislukt; dat gebeurt alsnog bij het koppelen")

    def suggestions(self, request_id: int, limit: int = 5, today: dt.date | None = None) -> dict:
        """Explained matches for a stored request, counting the hours members are already booked for."""
        row = self.requests.get(request_id)
        if row is None:
            raise KeyError(request_id)
        request = to_help_request(row)
        today = today or dt.date.today()
        start, _ = period(request, today)
        # A member linked to this very request is not 'booked' against it when a coordinator reconsiders.
        booked = self.requests.booked_hours(start)
        for own in self.requests.assignments(request_id):
            booked[own["member_id"]] = booked.get(own["member_id"], 0.0) - own["hours_per_week"]
        result = self.pool.match(request, booked=booked, limit=limit, today=today)
        cases = self.search(SearchRequest(text=request.text, per_page=3)).hits
        return match_answer(result, cases)

    def assign(self, request_id: int, member_id: str, actor: str, today: dt.date | None = None,
               note: str = "") -> None:
        """Link a member to a request for the hours and period it asks, recorded in the audit log.

        The hard rules hold here as in the matcher: a member with a conflict of interest, no hours, or no
        availability in the period is refused (AssignmentRefused, in Dutch); the free hours are checked in the
        same transaction as the booking, so two coordinators cannot both take a member's last hours. KeyError
        for an unknown request or member.
        """
        row = self.requests.get(request_id)
        members = {m.id: m for m in self.pool.members()}
        if row is None or member_id not in members:
            raise KeyError(member_id if row else request_id)
        member = members[member_id]
        request = self.pool.normalise_request(to_help_request(row))
        today = today or dt.date.today()
        start, end = period(request, today)
        hours = request.hours_per_week or DEFAULT_HOURS[member.pool]
        # Bookings are checked below, inside the transaction; here only the rules that do not change meanwhile.
        reason = exclusion(member, request, 0.0, today)
        if reason:
            raise AssignmentRefused(reason)
        with self.store.transaction():
            self.requests.assign(request_id, member_id, hours, start, end, actor, member.hours_per_week, note=note)
            self.audit.record(actor, note or f"Gekoppeld aan {member_id}", request_id)

    def purge(self, closed_before: dt.datetime, actor: str = "wijkwijzer purge") -> list[int]:
        """Erase the personal data of requests closed before `closed_before`, each erasure with its audit record
        in one transaction; returns the ids erased now (safe to repeat)."""
        erased = []
        for request_id in self.requests.purgeable(closed_before):
            with self.store.transaction():
                if self.requests.erase(request_id):
                    self.audit.record(actor, "gewist (bewaartermijn)", request_id)
                    erased.append(request_id)
        return erased

    def change_status(self, request_id: int, status: str, actor: str, note: str = "") -> None:
        """Change a request's status if the flow allows it, recorded in the audit log (one transaction)."""
        with self.store.transaction():
            self.requests.set_status(request_id, status, actor, note)
            self.audit.record(actor, f"Status: {status}", request_id)

    def erase_request(self, request_id: int, actor: str) -> bool:
        """Erase the personal data of one request now, recorded in the audit log; False if it already was."""
        with self.store.transaction():
            erased = self.requests.erase(request_id)
            self.audit.record(actor, "Persoonsgegevens gewist" if erased else "Wissen: was al gewist", request_id)
        return erased

    def propose_batch(self, today: dt.date | None = None) -> dict:
        """One proposal for all open requests (nieuw, in behandeling): the optimal assignment under the members'
        free hours, with the greedy total beside it. Nothing is stored until a coordinator applies it."""
        today = today or dt.date.today()
        rows = self.requests.queue("nieuw") + self.requests.queue("in behandeling")
        if not rows:
            return {"rows": [], "optimal": 0.0, "greedy": 0.0}
        requests = [to_help_request(row) for row in rows]
        booked = self.requests.booked_hours(today)
        results, optimal, greedy = self.pool.assign(requests, booked=booked, today=today)
        names = {m.id: m for m in self.pool.members()}
        proposal = []
        for row, result, chosen in zip(rows, results, optimal.members, strict=True):
            score = next((m.score for m in result.matches if m.id == chosen), None)
            proposal.append({"request": row, "pool": result.routing.pool, "member": names.get(chosen),
                             "score": score})
        return {"rows": proposal, "optimal": optimal.total, "greedy": greedy.total}

    def pool_problems(self) -> list:
        """Problems of the pool files, with paths from the project root's view (experts/...)."""
        from dataclasses import replace

        return [replace(p, path=f"{self.settings.experts_dir.name}/{p.path}") for p in self.pool.check()]

    # -- indexing ------------------------------------------------------------------------------------------
    def sync(self, **kwargs) -> SyncReport:
        """Bring the index in line with the content folder."""
        return self.knowledge.sync(**kwargs)

    def refresh_semantic(self, *, embed: bool = True) -> None:
        """Bring the semantic index to the full-text index's generation (embeds new passages; slow), then embed
        pool profiles that changed, so the first match does not wait for them. With `embed=False` only vectors
        another process stored are taken up."""
        if self.semantic.configured:  # also while a failure waits for its retry
            self.semantic.update(self.index.generation(), self.index.all_cases, embed=embed)
            if embed and self.semantic.ready and self.pool.embedder is not None:
                self.pool.profile_matrix(self.pool.members())

    def start_semantic(self) -> None:
        """Keep the semantic index current in a daemon thread, so the site starts without waiting for the model.

        Of several server processes only the holder of the writer lease embeds; the others read its vectors.
        """
        if not self.semantic.configured or self._semantic_thread is not None:
            return

        def loop() -> None:
            while True:
                writer = self.writer.try_acquire()
                try:
                    self.refresh_semantic(embed=writer)
                except Exception:
                    log.exception("semantische index bijwerken mislukt")
                # A reader waiting for the writer's vectors polls less often: embedding takes minutes to hours.
                pause = 1.0 if writer or self.semantic.ready else 10.0
                if self._stop.wait(max(self.settings.watch_interval, pause)):
                    return

        self._semantic_thread = threading.Thread(target=loop, name="wijkwijzer-semantic", daemon=True)
        self._semantic_thread.start()

    def start_watching(self) -> None:
        """Re-sync the content folder every `watch_interval` seconds in a daemon thread.

        Of several server processes only the holder of the writer lease re-indexes; the others see its commits
        (every search opens the newest generation) and reload the taxonomy when its file changes.
        """
        if self.settings.watch_interval <= 0 or self._watcher is not None:
            return

        def loop() -> None:
            dutch_lexicon()  # load the compound word list now, not on the first edit an editor makes
            while not self._stop.wait(self.settings.watch_interval):
                try:
                    if not self.writer.try_acquire():
                        if self.knowledge.refresh_taxonomy():
                            self.hybrid.clear_cache()  # cached answers carry the old labels and facets
                        continue
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
        self.semantic.close()  # else the embedding thread runs on, inside PyTorch, while the process exits
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        if self._semantic_thread is not None:
            self._semantic_thread.join(timeout=5)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.hybrid.close()
        self.index.close()
        self.store.close()
        self.writer.release()
        self.knowledge.parser.close()  # before a fork (serve --prod indexes, then forks workers) and at exit


def match_answer(result: MatchResult, cases: list) -> dict:
    """The JSON shape of a match: pool, routing reason and confidence, matches with reasons, and when the route
    is unsure the next pool with its best members, suggested case studies."""
    routing = result.routing
    return {
        "pool": routing.pool,
        "routing_reason": routing.reason,
        "confidence": routing.confidence,
        "alternative_pool": routing.runner_up if routing.unsure else None,
        "roles": [{"role": role, "count": count} for role, count in result.roles],
        "matches": [m.to_dict() for m in result.matches],
        "alternatives": [m.to_dict() for m in result.alternatives],
        "excluded": [{"id": member, "reason": reason} for member, reason in sorted(result.excluded.items())],
        "cases": [{"slug": hit.slug, "title": hit.title, "summary": hit.summary} for hit in cases],
    }


def make_embedder(settings: Settings) -> tuple[Embedder | None, str | None]:
    """The configured embedding model (not yet loaded), or None and the reason semantic search is off."""
    from wijkwijzer.search.model_build import MODEL_ID

    if settings.embedding_model:
        return SentenceTransformerEmbedder(settings.embedding_model, settings.embedding_model, settings.device,
                                           precision=settings.embedding_precision,
                                           query_runtime=settings.query_runtime), None
    folder = settings.default_model_dir
    if not (folder / "model.safetensors").is_file():
        return None, "het taalmodel is niet geïnstalleerd (voer 'wijkwijzer model install' uit)"
    return SentenceTransformerEmbedder(str(folder), MODEL_ID, settings.device,
                                       precision=settings.embedding_precision,
                                       query_runtime=settings.query_runtime), None
