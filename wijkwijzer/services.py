"""The composition root: builds the store, the index and the knowledge base from Settings.

The web app and the CLI both get a `Services` and call its methods; neither builds these parts itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from wijkwijzer.alerts import Alerts
from wijkwijzer.casefiles import CaseFiles, FileRefused, OpenedFile, describe_case_files, listed_files, open_case_file
from wijkwijzer.config import Settings
from wijkwijzer.domain.attachments import FilePolicy
from wijkwijzer.domain.helprequests import (
    DEFAULT_HOURS,
    FormResult,
    HelpRequest,
    period,
    to_help_request,
    validate_form,
)
from wijkwijzer.domain.matching import MatchResult, shortfall
from wijkwijzer.domain.pool import POOLS
from wijkwijzer.domain.teams import derive_slots
from wijkwijzer.expertise import ExpertPool, text_key
from wijkwijzer.jobs import Job, Jobs
from wijkwijzer.knowledge import KnowledgeBase, SyncReport
from wijkwijzer.mail.notices import Notifier
from wijkwijzer.mail.sender import Delivery, SmtpSender
from wijkwijzer.mail.team import TeamMail
from wijkwijzer.opendata import records
from wijkwijzer.parsing import ParseWorker
from wijkwijzer.search import whoosh_patches
from wijkwijzer.search.embedders import Embedder, SentenceTransformerEmbedder
from wijkwijzer.search.fulltext import FulltextIndex
from wijkwijzer.search.hybrid import HybridSearch
from wijkwijzer.search.models import Hit, SearchRequest, SearchResponse
from wijkwijzer.search.semantic import SemanticIndex
from wijkwijzer.storage.accounts import Accounts
from wijkwijzer.storage.alerts import AlertStore
from wijkwijzer.storage.audit import AuditLog
from wijkwijzer.storage.changes import CaseChanges
from wijkwijzer.storage.db import UNAVAILABLE, Store, open_store
from wijkwijzer.storage.lease import WriterLease
from wijkwijzer.storage.outbox import Outbox
from wijkwijzer.storage.requests import FeedbackStore, RequestStore
from wijkwijzer.storage.runs import IndexRuns
from wijkwijzer.storage.sessions import Sessions
from wijkwijzer.storage.teams import TeamStore
from wijkwijzer.storage.vectors import VectorCache
from wijkwijzer.teamwork import Teams, utcnow
from wijkwijzer.text.dutch import dutch_lexicon, dutch_words

log = logging.getLogger(__name__)
SENT_MAIL_DAYS = 30
ERASURE_POLL = 2.0  # seconds between reads of the erasures of other servers (PostgreSQL)


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
    sessions: Sessions
    audit: AuditLog
    runs: IndexRuns
    writer: WriterLease
    hybrid: HybridSearch
    outbox: Outbox
    notifier: Notifier
    team: Teams
    alerts: Alerts
    changes: CaseChanges | None = None  # when each case study was published, changed, removed (open data, alerts)
    jobs: Jobs = field(default_factory=Jobs)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _watcher: threading.Thread | None = None
    _semantic_thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _executor: ThreadPoolExecutor | None = None
    _erasures_seen: tuple | None = None
    # Servers on other machines share no data folder: on PostgreSQL the erasures are also read from the database,
    # at most every ERASURE_POLL seconds (a search must not wait for the database each time).
    _erasures_stored: tuple | None = None
    _erasures_polled: float = 0.0
    _jobs_thread: threading.Thread | None = None
    _changes_recorded: bool = False

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
        store = open_store(settings.database, pool_size=settings.database_pool_size, pgvector=settings.pgvector)
        runs, vectors = IndexRuns(store), VectorCache(store)
        index = FulltextIndex(settings.index_dir, warm=warm_postings)
        procs = index_procs or max(1, min(4, os.cpu_count() or 1))
        parser = ParseWorker()  # one worker process parses content and pool files, each within its budget
        knowledge = KnowledgeBase(settings.content_dir, index, runs, procs=procs, parser=parser,
                                  files=file_policy(settings))
        reason = None
        if embedder is None:
            embedder, reason = make_embedder(settings)
        semantic = SemanticIndex(vectors, embedder, reason)
        pool = ExpertPool(settings.experts_dir, vectors, lambda: knowledge.taxonomy, embedder, parser=parser)
        requests, accounts, outbox = RequestStore(store, settings.secret_key), Accounts(store), Outbox(store)
        audit = AuditLog(store)
        notifier = Notifier(outbox, requests, accounts, settings.site_url, pool.members, pool.gemeenten.display,
                            settings.mail_reply_to)
        team = Teams(store, requests, TeamStore(store, requests), FeedbackStore(store), audit, pool,
                     reminder_days=settings.invitation_reminder_days, expiry_days=settings.invitation_expiry_days)
        hybrid = HybridSearch(index, semantic, settings.semantic_ratio)
        # The links in followers' mails are signed with the site's key, also when a command (cron) queues them.
        secret = settings.secret_key or settings.with_secret().secret_key
        alerts = Alerts(AlertStore(store), outbox, secret=secret, site_url=settings.site_url,
                        taxonomy=lambda: knowledge.taxonomy, search=hybrid.search, reply_to=settings.mail_reply_to,
                        hour=settings.alerts_hour, weekday=settings.alerts_weekday)
        services = cls(settings=settings, store=store, index=index, knowledge=knowledge, semantic=semantic, pool=pool,
                       requests=requests, accounts=accounts, audit=audit, runs=runs,
                       sessions=Sessions(store, idle=settings.session_idle_minutes * 60,
                                         lifetime=settings.session_max_hours * 3600),
                       writer=WriterLease(settings.data_dir / "writer.lock"),
                       hybrid=hybrid, outbox=outbox, notifier=notifier, team=team, alerts=alerts)
        team.on_status = notifier.status_changed
        team.notify = TeamMail(notifier, accounts, team).send
        services.jobs.lock = store.job_lock  # on PostgreSQL one server of the cluster runs each job at a time
        services.changes = CaseChanges(store)
        alerts.note_changes = services.record_changes
        notifier.reopened = team.teams.reopened_between
        services._add_mail_jobs()
        # Reminders and expiry of invitations: every process runs it; each change is claimed in a transaction.
        services.jobs.add("uitnodigingen", 300, lambda now: team.run_clock(now))
        return services

    # -- search (search.hybrid does the work) -------------------------------------------------------------
    def default_mode(self) -> str:
        """Hybrid once the semantic index is ready, keyword before that."""
        return self.hybrid.default_mode()

    def search(self, request: SearchRequest, mode: str | None = None) -> SearchResponse:
        """Run a search in `mode` (default: `default_mode()`); see HybridSearch.search. Raises UnknownMode."""
        self._forget_if_erased_elsewhere()
        return self.hybrid.search(request, mode)

    def case(self, slug: str) -> dict | None:
        """One stored case study."""
        return self.index.get(slug)

    def case_file(self, slug: str, name: str) -> OpenedFile | None:
        """A file the case `slug` lists (attachment or image), opened after every check; None when the case does
        not list it or it cannot be served (missing, outside content/, wrong type, too large)."""
        found = self.index.get(slug)
        if found is None or name not in listed_files(found):
            return None
        try:
            return open_case_file(self.settings.content_dir, slug, name, self.knowledge.files)
        except FileRefused:
            return None

    def case_files(self, slug: str, found: dict) -> CaseFiles:
        """What a case page shows of the files beside the case: each attachment that can be served, with its
        type and size, and the size of each image in the body."""
        return describe_case_files(self.settings.content_dir, slug, found, self.knowledge.files)

    def reading_list(self, slugs: Iterable[str]) -> tuple[list[dict], list[str]]:
        """The stored case studies of a reading list in its order, and the slugs no case study has (any more)."""
        found, missing = [], []
        for slug in slugs:
            case = self.index.get(slug)
            if case is None:
                missing.append(slug)
            else:
                found.append(case)
        return found, missing

    def related(self, slug: str, limit: int = 5) -> list[dict]:
        """Similar case studies for a case page: by meaning when the semantic index is ready, else by words."""
        return self.hybrid.related(slug, limit)

    def newest(self, limit: int = 6) -> list[Hit]:
        """The most recent case studies (hits)."""
        return self.hybrid.newest(limit)

    def status(self) -> dict:
        """Index state for `/api/v1/status` and the CLI."""
        error = self.store.read_only
        try:
            run = self.runs.last()
            changed = self.runs.last(with_changes=True)
        except UNAVAILABLE:  # a PostgreSQL that is down: the index and search still answer
            run = changed = None
            error = "de database is niet bereikbaar"
        return {
            "documents": self.index.count(),
            "last_indexed": changed["finished"] if changed else None,
            "errors": [p for p in (run["problems"] if run else []) if p["severity"] == "error"],
            "warnings": len([p for p in (run["problems"] if run else []) if p["severity"] == "warning"]),
            "semantic": self.semantic.status().to_dict(),
            "storage": {"writable": error is None, "error": error,
                        "vectors": "pgvector" if self.store.pgvector else "memory"},
        }

    # -- matching ------------------------------------------------------------------------------------------
    def match(self, request: HelpRequest, limit: int = 5) -> dict:
        """Matches for one help request, with the three most relevant case studies, as the API answers them.

        Raises expertise.BadRequest (naming the field) for a municipality or theme we do not know.
        """
        result = self.pool.match(request, limit=limit)
        cases = self.search(SearchRequest(text=request.text, per_page=3, strict=False)).hits
        return match_answer(result, cases)

    def submit_request(self, form: dict, today: dt.date | None = None) -> tuple[FormResult, str | None]:
        """Validate and store a help request from the public form; the token is for the submitter's status link."""
        result = validate_form(form, self.pool.gemeenten, self.knowledge.taxonomy, today or dt.date.today())
        if result.data is None:
            return result, None
        with self.store.transaction():  # the request, its team's slots, its reference number and its mails
            request_id, token = self.requests.submit(result.data)
            row = self.requests.get(request_id)
            self.team.teams.add_slots(request_id, derive_slots(to_help_request(row), today or dt.date.today()),
                                      "aanvrager", utcnow())
            self.notifier.submitted(request_id, token)
        if self.pool.embedder is not None:
            # Embed the question now, off the request path: the coordinator's first look needs no model time.
            self._background().submit(self._embed_quietly, request_id, result.data["question"])
        return result, token

    def _background(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wijkwijzer-background")
            return self._executor

    def _embed_quietly(self, request_id: int, text: str) -> None:
        try:
            self.pool.query_vectors([text])
            with self.store.transaction():
                # Reading the status locks the row on PostgreSQL: an erasure still in progress (which deletes the
                # vectors it can see) finishes first, so an erased request is seen as erased here.
                with contextlib.suppress(KeyError):
                    self.requests._status(request_id)
                row = self.requests.get(request_id)
            if row is None or row["erased"]:  # erased while the model was busy: the vector goes too
                self.pool.cache.forget([text_key(text)])
        except Exception:
            log.exception("hulpvraag vooraf embedden mislukt; dat gebeurt alsnog bij het koppelen")

    def suggestions(self, request_id: int, limit: int = 5, today: dt.date | None = None) -> dict:
        """Explained matches for a stored request, counting the hours members are booked for at the busiest point
        of the request's period (as the per-slot suggestions do). A member who passes the hard rules but cannot
        take on the whole request (too few free hours, or gone for part of the period) is marked (`shortfall`)
        and listed after those who can, never as if they fit."""
        row = self.requests.get(request_id)
        if row is None:
            raise KeyError(request_id)
        request = to_help_request(row)
        today = today or dt.date.today()
        start, end = period(request, today)
        # The request's own links are left out: a coordinator reconsidering it should not see its team as booked.
        booked = self.requests.peak_booked(start, end, except_request=request_id)
        result = self.pool.match(request, booked=booked, limit=limit, today=today)
        cases = self.search(SearchRequest(text=request.text, per_page=3, strict=False)).hits
        answer = match_answer(result, cases)
        members = {m.id: m for m in self.pool.members()}
        hours = request.hours_per_week or DEFAULT_HOURS.get(result.routing.pool, 0.0)
        for listed in (answer["matches"], answer["alternatives"]):
            for match in listed:
                member = members.get(match["id"])
                match["shortfall"] = (shortfall(member, booked.get(member.id, 0.0), hours, start, end)
                                      if member else None)
            listed.sort(key=lambda match: bool(match["shortfall"]))  # stable: by score within each group
        return answer

    def assign(self, request_id: int, member_id: str, actor: str, today: dt.date | None = None,
               override: str = "") -> str:
        """Invite a member into the request's first open slot (the only slot, replacing its member, when none is
        open); see Teams.link for the checks. Returns the invitation token. KeyError for an unknown request or
        member."""
        slots = self.team.ensure(request_id)
        open_slots = [s for s in slots if s["link"] is None]
        if not open_slots and len(slots) != 1:
            from wijkwijzer.domain.helprequests import RefusedChange

            raise RefusedChange("elke plek in het team is bezet; geef eerst iemand vrij of voeg een plek toe")
        slot = (open_slots or slots)[0]
        return self.team.link(slot["id"], member_id, actor, override=override, today=today)

    def member_label(self, member_id: str) -> str:
        """How pages name a member: "Ferdinand Isenia (Expertpool)"; the id when the member is gone."""
        member = next((m for m in self.pool.members() if m.id == member_id), None)
        return f"{member.name} ({POOLS.get(member.pool, member.pool)})" if member else member_id

    def purge(self, closed_before: dt.datetime, actor: str = "wijkwijzer purge") -> list[int]:
        """Erase the personal data of requests closed before `closed_before` as `erase_request` does, each in one
        transaction with its audit record; returns the ids erased now (safe to repeat). Expired login sessions
        are deleted as well."""
        erased = []
        for request_id in self.requests.purgeable(closed_before):
            with self.store.transaction():
                if self._erase(request_id):
                    self.audit.record(actor, "gewist (bewaartermijn)", request_id)
                    erased.append(request_id)
        self.sessions.delete_expired()
        if erased:
            self._after_erasure()
        return erased

    def change_status(self, request_id: int, status: str, actor: str, note: str = "") -> None:
        """Change a request's status if the flow allows it, recorded in the audit log (one transaction); closing
        ends the team's links and tells the members."""
        self.team.close(request_id, status, actor, note)

    def erase_request(self, request_id: int, actor: str) -> bool:
        """Erase the personal data of one request now, recorded in the audit log; False (and nothing written)
        when it already was. KeyError for an unknown request.

        The contact details, the question, the notes and the question's cached embedding go in one transaction
        (a held lock or a crash leaves all of it in place, never a part); afterwards every cached search answer
        and query vector of this process goes, other server processes drop theirs at their next search, and a
        checkpoint empties the write-ahead log. With secure_delete on, the erased text is then in no file.
        """
        with self.store.transaction():
            erased = self._erase(request_id)
            if erased:
                self.audit.record(actor, "Persoonsgegevens gewist", request_id)
        if erased:
            self._after_erasure()
        return erased

    def _erase(self, request_id: int) -> bool:
        """Inside the caller's transaction: the request's personal data and the vectors of its question."""
        row = self.requests.get(request_id)
        if row is None:
            raise KeyError(request_id)
        if row["erased"]:
            return False
        self.requests.erase(request_id)
        self.outbox.forget_request(request_id)  # the mails held the address, the question and the status link
        self.pool.cache.forget([text_key(row["question"])])  # the key of pool.query_vectors, under any model
        return True

    def _after_erasure(self) -> None:
        """Drop the in-process caches that may hold an erased question (search answers keyed by their text, query
        vectors), tell the other server processes to do the same, and empty the write-ahead log."""
        self._drop_text_caches()
        marker = self.settings.data_dir / "erasures"
        try:
            fresh = marker.with_name(f".erasures.{os.getpid()}.{threading.get_ident()}")
            fresh.write_text(f"{dt.datetime.now(dt.UTC).isoformat()}\n")
            os.replace(fresh, marker)  # a new file each time: its inode changes even within one clock tick
            self._erasures_seen = _stamp(marker)
        except OSError:
            log.exception("andere serverprocessen konden niet worden gemeld dat er gewist is")
        if not self.store.checkpoint():
            log.warning("het write-ahead-log kon na het wissen niet meteen worden geleegd; SQLite doet het bij de "
                        "volgende checkpoint")

    def _forget_if_erased_elsewhere(self) -> None:
        stamp = _stamp(self.settings.data_dir / "erasures")
        if stamp != self._erasures_seen:  # another process erased (one stat() per search)
            self._drop_text_caches()
            self._erasures_seen = stamp
        if self.store.backend != "sqlite" and time.monotonic() - self._erasures_polled >= ERASURE_POLL:
            self._erasures_polled = time.monotonic()
            try:
                stored = self.requests.erasures()
            except UNAVAILABLE:
                return  # searching works without the database; the next poll tries again
            if stored != self._erasures_stored:  # another server erased
                self._drop_text_caches()
                self._erasures_stored = stored

    def _drop_text_caches(self) -> None:
        self.hybrid.clear_cache()
        self.semantic.clear_queries()

    def propose_batch(self, today: dt.date | None = None) -> dict:
        """One proposal for every open slot of the open requests (see Teams.propose); nothing is stored."""
        return self.team.propose(today)

    def pool_problems(self) -> list:
        """Problems of the pool files, with paths from the project root's view (experts/...)."""
        from dataclasses import replace

        return [replace(p, path=f"{self.settings.experts_dir.name}/{p.path}") for p in self.pool.check()]

    # -- indexing ------------------------------------------------------------------------------------------
    def sync(self, **kwargs) -> SyncReport:
        """Bring the index in line with the content folder, and record which case studies changed."""
        report = self.knowledge.sync(**kwargs)
        if report.written or report.removed or not self._changes_recorded:
            self.record_changes()
        return report

    # -- open data (opendata/ does the work) -----------------------------------------------------------------
    def record_changes(self) -> None:
        """Note the publication, change and removal times of the indexed case studies (nothing when the
        database is read-only: the listing then falls back to the last index run's time)."""
        if self.store.read_only is None:
            self.changes.record({case["slug"]: records.fingerprint(case) for case in self.index.all_cases()})
            self._changes_recorded = True

    def case_changes(self, cases: list[dict]) -> dict[str, dict]:
        """The change rows of `cases` (and of removed case studies); see `_fill_changes` for a case study that has
        none yet."""
        rows = self.changes.all() if len(cases) != 1 else {}
        if len(cases) == 1 and (row := self.changes.get(cases[0]["slug"])) is not None:
            rows[cases[0]["slug"]] = row  # a case page reads one row, not the table
        missing = [case for case in cases if case["slug"] not in rows]
        if missing:
            rows.update(self._fill_changes(missing))
        return rows

    def _fill_changes(self, cases: list[dict]) -> dict[str, dict]:
        """Rows for case studies the table lacks (another process indexed them a moment ago): inserted now, or,
        in a read-only database, dated by the last index run."""
        if self.store.read_only is None:
            self.changes.add_missing({case["slug"]: records.fingerprint(case) for case in cases})
            found = {case["slug"]: self.changes.get(case["slug"]) for case in cases}
            if all(found.values()):
                return found
        run = self.runs.last(with_changes=True)
        fallback = run["finished"] if run else "1970-01-01T00:00:00+00:00"
        return {case["slug"]: {"published": fallback, "modified": fallback, "removed": None} for case in cases}

    def case_dates(self) -> dict[str, dict]:
        """slug -> change row ({"published", "modified", "removed"}) of every case study on the site now, and of
        the removed ones (the sitemap and the catalogue need no more than these)."""
        live = self.index.manifest()
        rows = self.changes.all()
        missing = [case for slug in live if slug not in rows and (case := self.index.get(slug)) is not None]
        if missing:
            rows.update(self._fill_changes(missing))
        return rows | {slug: {**rows[slug], "removed": None} for slug in live if slug in rows}

    def live_slugs(self) -> list[str]:
        """The slugs of the indexed case studies."""
        return list(self.index.manifest())

    def open_cases(self, url, *, since: str | None = None, after: tuple[str, str] | None = None,
                   limit: int | None = None) -> records.Page:
        """A page of the public records in harvesting order (`url`: slug -> the case page's address); every
        record when `limit` is None. A page loads only its own case studies. See records.listing."""
        changes = self.case_dates()
        live = [slug for slug in self.live_slugs() if slug in changes]
        return records.listing(live, changes, self.index.get_many, self.knowledge.taxonomy, url, since=since,
                               after=after, limit=limit)

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
            dutch_words()  # and the whole word list the typo corrector consults, not on the first search
            while not self._stop.wait(self.settings.watch_interval):
                try:
                    if not self.writer.try_acquire():
                        if self.knowledge.refresh_taxonomy():
                            self.hybrid.clear_cache()  # cached answers carry the old labels and facets
                        continue
                    report = self.sync()  # also records which case studies changed (open data)
                    if report.written or report.removed:
                        log.info("index bijgewerkt: %d gewijzigd, %d verwijderd", report.written, report.removed)
                except Exception:
                    log.exception("synchroniseren van de inhoud mislukt; volgende poging over %ss",
                                  self.settings.watch_interval)

        self._watcher = threading.Thread(target=loop, name="wijkwijzer-watcher", daemon=True)
        self._watcher.start()

    # -- mail and other periodic jobs ----------------------------------------------------------------------
    def mail_sender(self) -> SmtpSender | None:
        """The SMTP sender, or None when WIJKWIJZER_SMTP_URL is not set (mail then waits in the outbox)."""
        smtp = self.settings.smtp
        return SmtpSender(smtp, self.settings.mail_from) if smtp else None

    def send_mail(self, now: dt.datetime | None = None, limit: int = 100) -> Delivery | None:
        """Deliver the mails that are due (None without SMTP settings). Safe in several processes at once."""
        sender = self.mail_sender()
        return sender.deliver(self.outbox, limit=limit, now=now) if sender else None

    def retry_mail(self, mail_id: int, actor: str) -> bool:
        """Queue a failed mail again, recorded in the audit log; False when it was not failed (or is gone)."""
        with self.store.transaction():
            retried = self.outbox.retry(mail_id) == 1
            if retried:
                self.audit.record(actor, f"E-mail {mail_id} opnieuw in de wachtrij")
        return retried

    def prune_mail(self, now: dt.datetime | None = None) -> int:
        """Delete mails delivered more than SENT_MAIL_DAYS ago; returns how many."""
        return self.outbox.prune((now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=SENT_MAIL_DAYS))

    def export_request(self, request_id: int) -> dict | None:
        """Everything stored about one request, its mails included (for a data-subject access request)."""
        data = self.requests.export(request_id)
        if data is not None:
            data["mails"] = [{key: mail[key] for key in ("created", "kind", "recipient", "subject", "text", "status",
                                                         "sent")} for mail in self.outbox.for_request(request_id)]
        return data

    def _add_mail_jobs(self) -> None:
        self.jobs.add("dagoverzicht", 60, lambda now: self.notifier.queue_digests(now, self.settings.digest_hour))
        # Followers' digests: each (subscription, period) is recorded with its mail, so every process may run it.
        # case_changes is kept by the process that syncs (Services.sync), so this job reads no index
        # but for the searches of due digests.
        self.jobs.add("volgmails", 60, lambda now: self.alerts.queue_digests(now, note=False))
        # Addresses that never confirmed go after 7 days, also when nobody runs `wijkwijzer purge`.
        self.jobs.add("volgen opruimen", 3600, lambda now: self.alerts.purge(now))
        if self.settings.smtp is not None:
            self.jobs.add("mail versturen", self.settings.jobs_interval, lambda now: self.send_mail(now))
            # Delivered mails hold addresses and status links; a month is enough to answer "did it go out?".
            self.jobs.add("verzonden mail opruimen", 3600, self.prune_mail)

    def periodic_jobs(self) -> list[Job]:
        """The registered jobs (add one with `services.jobs.add(name, every_seconds, run)`)."""
        return self.jobs.all()

    def run_due_jobs(self, now: dt.datetime | None = None, force: bool = False) -> list[str]:
        """Run the jobs whose time has come (all with `force`); returns their names."""
        return self.jobs.run_due(now, force=force)

    def start_jobs(self) -> None:
        """Run due jobs every `jobs_interval` seconds in one daemon thread of this process. Every server process
        runs them; each job claims its work in a transaction, so none is done twice."""
        if self._jobs_thread is None and self.store.read_only is None:  # read-only: nothing to send or queue
            self._jobs_thread = self.jobs.start(self._stop, self.settings.jobs_interval)

    def close(self) -> None:
        """Stop the watcher and release the index."""
        self._stop.set()
        self.semantic.close()  # else the embedding thread runs on, inside PyTorch, while the process exits
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        if self._semantic_thread is not None:
            self._semantic_thread.join(timeout=5)
        if self._jobs_thread is not None:
            self._jobs_thread.join(timeout=5)  # a send cut short is retried once its claim expires
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.hybrid.close()
        self.index.close()
        self.store.close()
        self.writer.release()
        self.knowledge.parser.close()  # before a fork (serve --prod indexes, then forks workers) and at exit


def _stamp(path) -> tuple | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns


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


def file_policy(settings: Settings) -> FilePolicy:
    """The allowed types and the size limit of files beside a case, from the settings."""
    return FilePolicy(frozenset(settings.attachment_types), int(settings.attachment_max_mb * 1000 * 1000))
