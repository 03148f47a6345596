"""Delivering the outbox over SMTP (stdlib smtplib): plain text and HTML parts, Message-ID and Date, retries
with backoff for temporary errors, permanent refusals (5xx for a recipient) marked failed with the server's
answer. An unreachable server costs each claimed mail one attempt and ends the round; nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from wijkwijzer.config import SmtpConfig
from wijkwijzer.domain.mail import FAILED
from wijkwijzer.mail.compose import TIMEZONE
from wijkwijzer.storage.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    """What one round of sending did."""

    sent: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    error: str = ""  # why the round stopped early (the server could not be reached)


def build_email(row: dict, mail_from: str, now: dt.datetime | None = None) -> EmailMessage:
    """The MIME message of an outbox row: multipart/alternative with text/plain and text/html in UTF-8."""
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = row["recipient"]
    email["Subject"] = row["subject"]
    email["Date"] = format_datetime((now or dt.datetime.now(dt.UTC)).astimezone(TIMEZONE))
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or None
    email["Message-ID"] = row.get("message_id") or make_msgid(f"wijkwijzer.{row['id']}", domain=domain)
    email["Auto-Submitted"] = "auto-generated"  # out-of-office replies should not answer it (RFC 3834)
    for name, value in (row.get("headers") or {}).items():
        email[name] = value
    email.set_content(row["text"], subtype="plain", charset="utf-8")
    if row.get("html"):
        email.add_alternative(row["html"], subtype="html", charset="utf-8")
    return email


def _permanent(exc: Exception) -> bool:
    """Whether the server refused for good (a 5xx answer about this mail); 4xx and connection trouble pass."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPAuthenticationError):
        return False  # our configuration, not this mail: every mail would fail; retried until it is fixed
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def _server_trouble(exc: Exception) -> bool:
    """Whether the error concerns the server or our account rather than this mail: the round then stops.
    (smtplib's errors are OSErrors too, so the answers about one mail are picked out first.)"""
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPAuthenticationError | smtplib.SMTPSenderRefused |
                  smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPResponseException):
        return exc.smtp_code == 421 if isinstance(exc, smtplib.SMTPResponseException) else False
    return True  # refused connection, timeout, TLS failure, name lookup


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
                         for rcpt, (code, msg) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class SmtpSender:
    """Sends outbox rows through one SMTP server."""

    def __init__(self, config: SmtpConfig, mail_from: str) -> None:
        self.config = config
        self.mail_from = mail_from

    def tls_context(self) -> ssl.SSLContext:
        """Verifies the server's certificate chain and host name: against the system's CAs, or only against
        `cafile` when one is configured. A certificate that does not verify fails the connection (the mails wait)."""
        return ssl.create_default_context(cafile=self.config.cafile or None)

    def connect(self) -> smtplib.SMTP:
        """An open, authenticated connection (raises OSError or smtplib.SMTPException)."""
        config = self.config
        if config.tls == "ssl":
            conn = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=self.tls_context())
        else:
            conn = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
            if config.tls == "starttls":
                try:
                    conn.starttls(context=self.tls_context())
                except BaseException:
                    conn.close()
                    raise
        try:
            if config.username:
                conn.login(config.username, config.password)
        except BaseException:
            conn.close()
            raise
        return conn

    def deliver(self, outbox: Outbox, limit: int = 100, now: dt.datetime | None = None) -> Delivery:
        """Send due mails until none is due, `limit` are done, or the server cannot be reached."""
        report = Delivery()
        if not outbox.due(now):
            return report  # the usual case: no write lock taken every few seconds in every process
        conn: smtplib.SMTP | None = None
        try:
            while len(report.sent) + len(report.retry) + len(report.failed) < limit:
                token, rows = outbox.claim(limit=min(10, limit), now=now)
                if not rows:
                    break
                for position, row in enumerate(rows):
                    try:
                        email = build_email(row, self.mail_from, now)
                    except (ValueError, TypeError) as exc:  # a header no mail may carry: never sendable
                        outbox.mark_failed(row["id"], token, f"ongeldige e-mail: {exc}", permanent=True, now=now)
                        report.failed.append(row["id"])
                        continue
                    try:
                        if conn is None:
                            conn = self.connect()
                        envelope_from = parseaddr(self.mail_from)[1]
                        conn.send_message(email, from_addr=envelope_from, to_addrs=[row["recipient"]])
                    except (OSError, smtplib.SMTPException) as exc:
                        error = _describe(exc)
                        if not _server_trouble(exc):
                            state = outbox.mark_failed(row["id"], token, error, permanent=_permanent(exc), now=now)
                            (report.failed if state == FAILED else report.retry).append(row["id"])
                            log.warning("mail %s niet afgeleverd: %s", row["id"], error)
                            continue
                        # The server is gone or refuses us: this and the rest of the batch wait for the backoff.
                        for waiting in rows[position:]:
                            state = outbox.mark_failed(waiting["id"], token, error, now=now)
                            (report.failed if state == FAILED else report.retry).append(waiting["id"])
                        report.error = error
                        log.warning("mailserver %s:%s niet bereikbaar (%s); %d mails wachten", self.config.host,
                                    self.config.port, error, len(rows) - position)
                        if conn is not None:
                            _quietly_close(conn)
                            conn = None
                        return report
                    outbox.mark_sent(row["id"], token, email["Message-ID"], now=now)
                    report.sent.append(row["id"])
        finally:
            if conn is not None:
                _quietly_close(conn)
        return report


def _quietly_close(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        conn.close()
