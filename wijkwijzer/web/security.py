"""Security headers, rate limits and security.txt: the web layer's defences, wired up by the app factory."""

from __future__ import annotations

import datetime as dt

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from wijkwijzer.config import Settings

# No inline script or style anywhere in our templates, so the policy can forbid both.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
# Endpoint -> limit on its POSTs, per client address: enough for real use, too few for a script to flood the
# queue, guess passwords or use the matcher as a free service.
LIMITS = {
    "helpdesk.form": "10 per minute;100 per day",
    "coordinator.login": "10 per minute;50 per hour",
    "api.match": "60 per minute",
}


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, marked Secure whenever the request came in over HTTPS.

    Behind the reverse proxy the scheme comes from X-Forwarded-Proto (trusted from the local proxy only), so
    one deployment serves Secure cookies over HTTPS and still works on plain http://127.0.0.1 for development.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def register(app: Flask, settings: Settings) -> Limiter:
    """Add the headers to every response, the rate limits to the endpoints above, and /.well-known/security.txt."""
    app.session_interface = SessionCookies()

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
