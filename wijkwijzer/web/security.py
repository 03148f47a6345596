"""The web layer's defences, wired up by the app factory: logins held on the server, password guesses
throttled, the client address behind trusted proxies, security headers, rate limits and security.txt."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time

from flask import Flask, Response, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.exceptions import TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

from wijkwijzer.config import Settings
from wijkwijzer.storage.engine import StorageUnavailable
from wijkwijzer.web.params import services

# No inline script or style anywhere in our templates, so the policy can forbid both.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
# Endpoint -> limit on its POSTs, per client address: enough for real use, too few for a script to flood the
# queue, guess passwords or use the matcher as a free service.
LIMITS = {
    "helpdesk.form": "10 per minute;100 per day",
    "coordinator.login": "10 per minute;50 per hour",
    "api.match": "60 per minute",
    "alerts.follow": "10 per minute;50 per day",  # each post may send a confirmation mail
}
# Wrong passwords, counted per client address and per account, whichever door they come through (the login
# form or HTTP Basic on the API): past either limit no password is checked at all, so guessing stops there.
GUESSES = "10 per minute;50 per hour"


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, marked Secure whenever the request came in over HTTPS.

    Behind a reverse proxy the scheme comes from X-Forwarded-Proto (trusted only with WIJKWIJZER_TRUSTED_PROXIES),
    so one deployment serves Secure cookies over HTTPS and still works on plain http://127.0.0.1 for development.
    The cookie carries the CSRF token of forms and a login's random session id, never who is logged in.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def current_user() -> dict | None:
    """The account logged in with this request's session ({"username", "name", "role"}), or None.

    The cookie holds only a random session id; the account, its current role and whether the session is still
    alive (not ended, not idle too long, not too old) come from the database, once per request.
    """
    if "account" not in g:
        svc = services()
        token = session.get("sid")
        g.account = svc.sessions.user(token) if token else None
        if token and g.account is None:
            session.pop("sid", None)  # ended or expired: the browser forgets it too
        if g.account is None and "read_only_login" in session:
            g.account = _read_only_login()
    return g.account


def log_in(account: dict) -> None:
    """Start a server-side session for an account that has just given its password (a fresh cookie: a session
    id planted before the login is never promoted)."""
    session.clear()
    svc = services()
    if svc.store.read_only:
        # Nothing can be written, so nothing could be revoked either: the login lives in the signed cookie, with
        # the same timeouts, and only while the database stays read-only (editors must read what is wrong).
        stamp = svc.sessions.clock()
        session["read_only_login"] = {"username": account["username"], "created": stamp, "seen": stamp}
    else:
        session["sid"] = svc.sessions.start(account["username"])
    g.pop("account", None)


def _read_only_login() -> dict | None:
    svc = services()
    login = session["read_only_login"]
    stamp = svc.sessions.clock()
    account = None
    if svc.store.read_only and not svc.sessions.expired(login["created"], login["seen"], stamp):
        account = svc.sessions.account(login["username"])
    if account is None:
        session.pop("read_only_login", None)
    else:
        session["read_only_login"] = {**login, "seen": stamp}
    return account


def _menu_account() -> dict | None:
    """current_user() for templates: an error page about a broken database must still render."""
    try:
        return current_user()
    except (sqlite3.DatabaseError, StorageUnavailable):
        return None


def log_out() -> None:
    """End this request's session on the server and clear the cookie."""
    token = session.get("sid")
    if token:
        services().sessions.end(token)
    session.clear()
    g.pop("account", None)


def check_password(username: str, password: str) -> dict | None:
    """The account when the password is right, else None; raises TooManyRequests (429, with Retry-After)
    once this client address or this account has had too many wrong guesses."""
    limiter: Limiter = current_app.extensions["wijkwijzer.limiter"]
    keys = [("address", request.remote_addr or "-"), ("account", username.strip().casefold()[:200])]
    items = parse_many(GUESSES)
    if limiter.enabled:
        blocked = [limiter.limiter.get_window_stats(item, "guesses", *key).reset_time
                   for item in items for key in keys if not limiter.limiter.test(item, "guesses", *key)]
        if blocked:
            raise TooManyRequests(retry_after=max(1, round(max(blocked) - time.time())))
    account = services().accounts.check(username, password)
    if account is None and limiter.enabled:
        for item in items:
            for key in keys:
                limiter.limiter.hit(item, "guesses", *key)
    return account


def register(app: Flask, settings: Settings) -> Limiter:
    """Add the headers to every response, the rate limits to the endpoints above, and /.well-known/security.txt;
    take the client address from the trusted proxies (`settings.trusted_proxies`)."""
    app.session_interface = SessionCookies()
    app.jinja_env.globals["current_user"] = _menu_account  # the menu shows what the logged-in role may open
    if settings.trusted_proxies:
        # Each trusted proxy appends the address it saw: the client is that many entries from the right. Anything
        # further left was written by the client itself, so a client that sends its own header changes nothing.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.path.startswith(("/coordinator", "/hulpvraag/status", "/api/v1/match")):
            response.headers["Cache-Control"] = "no-store"  # pages with personal data stay out of caches
        return response

    @app.get("/.well-known/security.txt")
    def security_txt():
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=365)).strftime("%Y-%m-%dT00:00:00Z")
        body = (f"Contact: {settings.security_contact}\nExpires: {expires}\nPreferred-Languages: nl, en\n"
                f"Canonical: {request.url_root}.well-known/security.txt\n")
        return body, 200, {"Content-Type": "text/plain; charset=utf-8"}

    limiter = Limiter(get_remote_address, app=app, storage_uri=settings.ratelimit_storage, default_limits=[],
                      enabled=settings.ratelimits, headers_enabled=True)
    for endpoint, limit in LIMITS.items():
        app.view_functions[endpoint] = limiter.limit(limit, methods=["POST"])(app.view_functions[endpoint])
    return limiter
