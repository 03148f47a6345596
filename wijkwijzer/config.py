"""One typed settings object, read from WIJKWIJZER_* environment variables with sensible defaults."""

from __future__ import annotations

import logging
import os
import re
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

ENV_PREFIX = "WIJKWIJZER_"
# Extensions of the files a case may carry; WIJKWIJZER_ATTACHMENT_TYPES narrows them (domain/filetypes.py says
# why SVG and legacy Office files are not among them).
ATTACHMENT_TYPES = ("pdf", "png", "jpg", "jpeg", "gif", "webp", "docx", "xlsx", "pptx", "odt", "ods", "odp")


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable and what is allowed."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable about Wijkwijzer. Build with `Settings.from_env()` or directly in tests."""

    content_dir: Path = Path("content")
    experts_dir: Path = Path("experts")
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 5000
    # Seconds between scans of the content folder by the running site; 0 turns watching off.
    watch_interval: float = 2.0
    results_per_page: int = 10
    # Empty: the multilingual-e5-small folder that `wijkwijzer model install` builds in the data folder.
    # Otherwise any sentence-transformers model: a folder, or a hub name where a deployment has network access.
    embedding_model: str = ""
    device: str = "cpu"  # "cpu" or "cuda" (or "cuda:1")
    # "int8" quantises the model's Linear layers (dynamic, per channel): faster only on CPUs with VNNI,
    # and it costs ranking quality; scripts/bench_search prints both figures.
    embedding_precision: str = "fp32"
    # "onnx": single queries through ONNX Runtime when `wijkwijzer model install` exported the model (fp32 vectors
    # in a third of PyTorch's time); "torch" always uses sentence-transformers.
    query_runtime: str = "onnx"
    # Share of the semantic side in hybrid ranking (0 = keyword only, 1 = semantic only); the default is
    # what scripts/eval_search showed best on the dev set.
    semantic_ratio: float = 0.7
    # Months after closing that a help request's personal data is erased by `wijkwijzer purge`.
    retention_months: int = 12
    # Working days (Monday to Friday) after which an unanswered invitation gets a reminder, and after which it
    # expires and its slot goes back to the coordinator.
    invitation_reminder_days: int = 3
    invitation_expiry_days: int = 10
    # Where rate-limit counters live: memory:// per process; redis://host:6379 shares them between workers.
    ratelimit_storage: str = "memory://"
    ratelimits: bool = True
    # Reverse proxies in front of the server that append the client address to X-Forwarded-For (and set
    # X-Forwarded-Proto): the client address is that many entries from the right. 0: the header is ignored.
    trusted_proxies: int = 0
    # Time limits of the production server for slow and idle clients (slowloris), in seconds: an idle kept-alive
    # connection is closed after `keepalive` (0: no keep-alive); a new connection must have sent its request line
    # and headers within `header_timeout` of connecting, and the whole request (with its body) within
    # `request_timeout`, which also bounds each write of the answer to a client that does not read it.
    keepalive: int = 5
    header_timeout: float = 10.0
    request_timeout: float = 30.0
    # A login ends after this many minutes without a request, and this many hours after it began, whatever
    # happens; both are checked on the server at every request.
    session_idle_minutes: float = 30.0
    session_max_hours: float = 8.0
    # Contact line of /.well-known/security.txt (a mailto: or https: address).
    security_contact: str = "mailto:security@wijkwijzer.example"
    secret_key: str = field(default="", repr=False)
    testing: bool = False
    # Outgoing mail: smtp://user:password@host:587?starttls=yes or smtps://user:password@host:465; empty: mail
    # waits in the outbox, which coordinators can read at /coordinator/uitgaande-mail.
    smtp_url: str = field(default="", repr=False)
    mail_from: str = ""  # "Wijkwijzer <noreply@example.nl>" or a plain address
    mail_reply_to: str = ""  # where answers to the mails go (the programme's desk); empty: nowhere
    base_url: str = ""  # https://wijkwijzer.example.nl: links in mails; empty: http://host:port
    # Seconds between runs of the background jobs (sending due mail, digests, reminders); 0 turns them off.
    jobs_interval: float = 5.0
    digest_hour: int = 8  # hour (Dutch time) of the daily digest of new requests
    # Where shared state lives: empty means SQLite in the data folder (one machine); postgresql://user:pw@host/db
    # lets several servers share it (README "Several servers with PostgreSQL"). `database_pool_size` caps each
    # process's PostgreSQL connections.
    database_url: str = field(default="", repr=False)
    database_pool_size: int = 10
    # "auto": on a PostgreSQL server that has pgvector, vectors are searched there instead of in each server's
    # memory (detected at start); "off": always in memory.
    pgvector: str = "auto"

    # Files beside a case study (attachments and images in the body): which extensions, up to what size.
    attachment_types: tuple[str, ...] = ATTACHMENT_TYPES
    attachment_max_mb: float = 20.0

    # When the mails to followers go out (Dutch time): daily ones at this hour, weekly ones on this weekday
    # (1 = Monday ... 7 = Sunday) at this hour.
    alerts_hour: int = 7
    alerts_weekday: int = 1

    @property
    def smtp(self) -> SmtpConfig | None:
        """The parsed SMTP server, or None when mail is not sent (only kept in the outbox)."""
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None

    @property
    def site_url(self) -> str:
        """The site's address for links in mails, without a trailing slash."""
        if self.base_url:
            return self.base_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def index_dir(self) -> Path:
        """Folder of the Whoosh full-text index."""
        return self.data_dir / "index"

    @property
    def database_path(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / "wijkwijzer.db"

    @property
    def database(self) -> str:
        """The database URL in effect: `database_url`, or SQLite in the data folder."""
        return self.database_url or f"sqlite:///{self.database_path}"

    @property
    def default_model_dir(self) -> Path:
        """Where `wijkwijzer model install` builds the default embedding model."""
        return self.data_dir / "models" / "multilingual-e5-small"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, base: Path | None = None) -> Settings:
        """Read settings from `environ` (default: the process environment); relative paths resolve from `base`."""
        env = os.environ if environ is None else environ
        base = Path.cwd() if base is None else base

        def path(name: str, default: str) -> Path:
            value = Path(env.get(ENV_PREFIX + name) or default).expanduser()
            return value if value.is_absolute() else (base / value)

        def number(name: str, default: float, kind: type) -> float:
            raw = env.get(ENV_PREFIX + name)
            if raw is None or raw == "":
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise SettingsError(f"{ENV_PREFIX}{name}={raw!r}: expected a {kind.__name__} number") from None
            if value < 0:
                raise SettingsError(f"{ENV_PREFIX}{name}={raw!r}: must not be negative")
            return value

        port = int(number("PORT", 5000, int))
        if not 1 <= port <= 65535:
            raise SettingsError(f"{ENV_PREFIX}PORT={port}: expected a port between 1 and 65535")
        return cls(
            content_dir=path("CONTENT_DIR", "content"),
            experts_dir=path("EXPERTS_DIR", "experts"),
            data_dir=path("DATA_DIR", "data"),
            host=env.get(ENV_PREFIX + "HOST") or "127.0.0.1",
            port=port,
            watch_interval=float(number("WATCH_INTERVAL", 2.0, float)),
            results_per_page=int(number("RESULTS_PER_PAGE", 10, int)) or 10,
            secret_key=env.get(ENV_PREFIX + "SECRET_KEY", ""),
            embedding_model=env.get(ENV_PREFIX + "EMBEDDING_MODEL", ""),
            device=_device(env.get(ENV_PREFIX + "DEVICE", "") or "cpu"),
            embedding_precision=_choice("EMBEDDING_PRECISION", env.get(ENV_PREFIX + "EMBEDDING_PRECISION", ""),
                                        PRECISIONS),
            query_runtime=_choice("QUERY_RUNTIME", env.get(ENV_PREFIX + "QUERY_RUNTIME", "") or cls.query_runtime,
                                  ("onnx", "torch")),
            semantic_ratio=_ratio(number("SEMANTIC_RATIO", cls.semantic_ratio, float)),
            retention_months=int(number("RETENTION_MONTHS", cls.retention_months, int)),
            invitation_reminder_days=int(number("INVITATION_REMINDER_DAYS", cls.invitation_reminder_days, int)),
            invitation_expiry_days=int(number("INVITATION_EXPIRY_DAYS", cls.invitation_expiry_days, int)) or 1,
            ratelimit_storage=env.get(ENV_PREFIX + "RATELIMIT_STORAGE") or cls.ratelimit_storage,
            trusted_proxies=int(number("TRUSTED_PROXIES", cls.trusted_proxies, int)),
            **_client_timeouts(number),
            session_idle_minutes=_positive("SESSION_IDLE_MINUTES", number("SESSION_IDLE_MINUTES",
                                                                          cls.session_idle_minutes, float)),
            session_max_hours=_positive("SESSION_MAX_HOURS", number("SESSION_MAX_HOURS", cls.session_max_hours, float)),
            ratelimits=_choice("RATELIMITS", env.get(ENV_PREFIX + "RATELIMITS", ""), ("on", "off")) == "on",
            security_contact=env.get(ENV_PREFIX + "SECURITY_CONTACT") or cls.security_contact,
            jobs_interval=float(number("JOBS_INTERVAL", cls.jobs_interval, float)),
            digest_hour=_hour(int(number("DIGEST_HOUR", cls.digest_hour, int))),
            database_url=_database_url(env.get(ENV_PREFIX + "DATABASE_URL", "").strip()),
            database_pool_size=max(2, int(number("DATABASE_POOL_SIZE", cls.database_pool_size, int))),
            pgvector=_choice("PGVECTOR", env.get(ENV_PREFIX + "PGVECTOR", "").strip(), ("auto", "off")),

            attachment_types=_attachment_types(env.get(ENV_PREFIX + "ATTACHMENT_TYPES", "")),
            attachment_max_mb=_positive("ATTACHMENT_MAX_MB", number("ATTACHMENT_MAX_MB", cls.attachment_max_mb,
                                                                    float)),

            alerts_hour=_hour(int(number("ALERTS_HOUR", cls.alerts_hour, int)), "ALERTS_HOUR"),
            alerts_weekday=_weekday(int(number("ALERTS_WEEKDAY", cls.alerts_weekday, int))),
            **mail_settings(env),
        )

    def with_secret(self) -> Settings:
        """Return settings with a secret key: the configured one, or one kept in the data folder across restarts."""
        if self.secret_key:
            return self
        key_file = self.data_dir / "secret_key"
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key = _read_or_create_key(key_file)
        except OSError as exc:
            # A read-only data folder must not stop the site: sessions then last until the next restart.
            logging.getLogger(__name__).warning("sessiesleutel niet bewaard (%s); stel WIJKWIJZER_SECRET_KEY in", exc)
            key = secrets.token_hex(32)
        return replace(self, secret_key=key)


PRECISIONS = ("fp32", "int8")


def _read_or_create_key(key_file: Path) -> str:
    """The key in `key_file`, created once with mode 0600 from the start.

    The key is written to a private temporary file (O_CREAT | O_EXCL, mode 0600: never readable by others, not
    even for a moment as with a chmod after writing), then hard-linked to its name, which appears whole or not at
    all. When several workers start at once, the first link wins and the others read that key, so every process
    signs sessions with the same key.
    """
    for _ in range(3):
        try:
            key = key_file.read_text().strip()
            if key:
                return key
        except FileNotFoundError:
            pass
        key = secrets.token_hex(32)
        tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(key)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, key_file)
                return key
            except FileExistsError:
                continue  # another process was first: read its key
            except OSError:  # a file system without hard links: create the name itself, exclusively
                if placed := _create_key_in_place(key_file, key):
                    return placed
                time.sleep(0.05)  # the other process is writing its key
                continue
        finally:
            tmp.unlink(missing_ok=True)
    raise OSError(f"{key_file} is leeg")


def _create_key_in_place(key_file: Path, key: str) -> str:
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()  # another process's key ("" while it writes: read again)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if not value:
        return allowed[0]
    if value not in allowed:
        raise SettingsError(f"{ENV_PREFIX}{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


def _ratio(value: float) -> float:
    if not 0 <= value <= 1:
        raise SettingsError(f"{ENV_PREFIX}SEMANTIC_RATIO={value}: expected a number from 0 to 1")
    return value


def _positive(name: str, value: float) -> float:
    if value <= 0:
        raise SettingsError(f"{ENV_PREFIX}{name}={value:g}: expected a number above 0")
    return value


def _client_timeouts(number: Callable[[str, float, type], float]) -> dict[str, float]:
    """WIJKWIJZER_KEEPALIVE, _HEADER_TIMEOUT and _REQUEST_TIMEOUT, checked together (the head is part of the
    request, so its limit cannot be the longer one)."""
    keepalive = int(number("KEEPALIVE", Settings.keepalive, int))  # gunicorn takes whole seconds
    header = _positive("HEADER_TIMEOUT", number("HEADER_TIMEOUT", Settings.header_timeout, float))
    request = _positive("REQUEST_TIMEOUT", number("REQUEST_TIMEOUT", Settings.request_timeout, float))
    if request < header:
        raise SettingsError(f"{ENV_PREFIX}REQUEST_TIMEOUT={request:g} is shorter than {ENV_PREFIX}HEADER_TIMEOUT="
                            f"{header:g}: the request (head and body) includes the head; expected at least {header:g}")
    return {"keepalive": keepalive, "header_timeout": header, "request_timeout": request}


def _device(value: str) -> str:
    if value == "cpu" or value == "cuda" or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise SettingsError(f"{ENV_PREFIX}DEVICE={value!r}: expected cpu, cuda or cuda:N")


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to hand mail over: `tls` is "ssl" (smtps://, TLS from the start), "starttls" or "none"."""

    host: str
    port: int
    tls: str
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    cafile: str = ""  # trust only this CA (or self-signed) certificate, PEM, instead of the system's CAs


_ADDRESS = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")
_YES, _NO = ("yes", "true", "1", "on"), ("no", "false", "0", "off")


def parse_smtp_url(url: str) -> SmtpConfig:
    """Parse WIJKWIJZER_SMTP_URL (smtp://[user:password@]host[:port][?starttls=yes|no&timeout=S&cafile=PATH] or
    smtps://...).

    smtp:// talks STARTTLS when `starttls=yes` (default: yes on port 587, else no); a password is refused over a
    connection that is never encrypted, except to this machine (a local relay). The server's certificate is
    always verified (chain and host name), against the system's CAs or, with `cafile`, against that PEM file
    only: a relay with a certificate of its own (self-signed or from an in-house CA) is trusted that way, not by
    switching verification off.
    """
    name = f"{ENV_PREFIX}SMTP_URL"
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise SettingsError(f"{name}: expected smtp://host:port or smtps://host:port, got scheme {parts.scheme!r}")
    try:
        port = parts.port
    except ValueError:
        raise SettingsError(f"{name}: the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise SettingsError(f"{name}: no host name (smtp://user:password@host:587)")
    port = port or (465 if parts.scheme == "smtps" else 25)
    query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"starttls", "timeout", "cafile"}
    if unknown:
        raise SettingsError(f"{name}: unknown option {sorted(unknown)[0]!r}; allowed: starttls, timeout, cafile")
    starttls = query.get("starttls", "yes" if port == 587 else "no").lower()
    if starttls not in _YES + _NO:
        raise SettingsError(f"{name}: starttls={starttls!r}; expected yes or no")
    if parts.scheme == "smtps" and "starttls" in query:
        raise SettingsError(f"{name}: smtps:// is encrypted from the start; starttls applies to smtp:// only")
    try:
        timeout = float(query.get("timeout", "30"))
    except ValueError:
        timeout = -1.0
    if not 0 < timeout <= 600:
        raise SettingsError(f"{name}: timeout={query.get('timeout')!r}; expected seconds from 1 to 600")
    tls = "ssl" if parts.scheme == "smtps" else ("starttls" if starttls in _YES else "none")
    username, password = unquote(parts.username or ""), unquote(parts.password or "")
    if password and tls == "none" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise SettingsError(f"{name}: the password would travel unencrypted; use smtps:// or ?starttls=yes")
    cafile = query.get("cafile", "")
    if "cafile" in query:
        if tls == "none":
            raise SettingsError(f"{name}: cafile applies to an encrypted connection; use smtps:// or ?starttls=yes")
        if not Path(cafile).is_file():
            raise SettingsError(f"{name}: cafile={cafile!r} is no file; expected the server's CA certificate (PEM)")
        try:
            ssl.create_default_context(cafile=cafile)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise SettingsError(f"{name}: cafile={cafile!r} holds no readable PEM certificate ({exc})") from None
    return SmtpConfig(parts.hostname, port, tls, username, password, timeout, cafile)


def mail_settings(env: Mapping[str, str]) -> dict:
    """The mail settings from the environment, checked together: sending needs a sender and absolute links."""
    smtp_url = (env.get(ENV_PREFIX + "SMTP_URL") or "").strip()
    mail_from = (env.get(ENV_PREFIX + "MAIL_FROM") or "").strip()
    base_url = (env.get(ENV_PREFIX + "BASE_URL") or "").strip()
    if smtp_url:
        parse_smtp_url(smtp_url)
        if not mail_from:
            raise SettingsError(f"{ENV_PREFIX}MAIL_FROM is needed with {ENV_PREFIX}SMTP_URL: the sender of the mails"
                                " (e.g. \"Wijkwijzer <noreply@gemeente.nl>\")")
        if not base_url:
            raise SettingsError(f"{ENV_PREFIX}BASE_URL is needed with {ENV_PREFIX}SMTP_URL: mails link to the site "
                                "(e.g. https://wijkwijzer.example.nl)")
    if mail_from and not _ADDRESS.search(mail_from):
        raise SettingsError(f"{ENV_PREFIX}MAIL_FROM={mail_from!r}: expected an e-mail address, optionally with a "
                            "name: \"Wijkwijzer <noreply@gemeente.nl>\"")
    reply_to = (env.get(ENV_PREFIX + "MAIL_REPLY_TO") or "").strip()
    if reply_to and not _ADDRESS.fullmatch(reply_to):
        raise SettingsError(f"{ENV_PREFIX}MAIL_REPLY_TO={reply_to!r}: expected one plain e-mail address "
                            "(programmabureau@gemeente.nl)")
    if base_url:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise SettingsError(f"{ENV_PREFIX}BASE_URL={base_url!r}: expected the site's address, "
                                "https://host[/path], without query or fragment")
    return {"smtp_url": smtp_url, "mail_from": mail_from, "mail_reply_to": reply_to, "base_url": base_url.rstrip("/")}


def _hour(value: int, name: str = "DIGEST_HOUR") -> int:
    if not 0 <= value <= 23:
        raise SettingsError(f"{ENV_PREFIX}{name}={value}: expected an hour from 0 to 23")
    return value


def _weekday(value: int) -> int:
    if not 1 <= value <= 7:
        raise SettingsError(f"{ENV_PREFIX}ALERTS_WEEKDAY={value}: expected a weekday from 1 (Monday) to 7 (Sunday)")
    return value


def _database_url(url: str) -> str:
    """WIJKWIJZER_DATABASE_URL checked for its scheme (the password is never repeated in the message)."""
    if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        scheme = url.split("://", 1)[0] if "://" in url else url[:20]
        raise SettingsError(f"{ENV_PREFIX}DATABASE_URL starts with {scheme!r}: expected sqlite:///path/to/file.db "
                            "or postgresql://user:password@host:5432/database")
    return url

def _attachment_types(value: str) -> tuple[str, ...]:
    """`pdf,png,jpg`: a subset of ATTACHMENT_TYPES (each needs its own content check); empty: all of them."""
    if not value.strip():
        return ATTACHMENT_TYPES
    chosen = tuple(dict.fromkeys(part.strip().lower().lstrip(".") for part in value.split(",") if part.strip()))
    unknown = [ext for ext in chosen if ext not in ATTACHMENT_TYPES]
    if unknown or not chosen:
        raise SettingsError(f"{ENV_PREFIX}ATTACHMENT_TYPES={value!r}: unknown type {unknown[0] if unknown else ''!r};"
                            f" allowed: {', '.join(ATTACHMENT_TYPES)}")
    return chosen
