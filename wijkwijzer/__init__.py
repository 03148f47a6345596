"""Wijkwijzer: the knowledge base and expert matching of the Nationaal Programma Leefbaarheid en Veiligheid."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.routing import IntegerConverter

from wijkwijzer.config import Settings
from wijkwijzer.services import Services

__version__ = "0.1.0"


class SQLiteIntConverter(IntegerConverter):
    """`<int:...>` bounded to SQLite's INTEGER range."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(settings: Settings | None = None, *, sync: bool = True, watch: bool | None = None) -> Flask:
    """Build the Flask app: services from settings, an initial sync of the content folder, the blueprints.

    `watch` starts the background content watcher (default: on unless testing). Nothing is created at import
    time; the index, the database and (later) the model live on `app.extensions["wijkwijzer"]`.
    """
    settings = (settings or Settings.from_env()).with_secret()
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=64 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as the session: a long form must not expire
    )
    app.json.ensure_ascii = False
    # Integers in URLs are request ids for SQLite, which takes at most 2**63 - 1: a larger one is a 404, not an
    # OverflowError in whatever route it reaches. Set before the blueprints add their rules.
    app.url_map.converters["int"] = SQLiteIntConverter
    services = Services.build(settings, index_procs=1, warm_postings=True)
    app.extensions["wijkwijzer"] = services
    if sync:
        try:
            services.sync()
        except Exception:
            logging.getLogger(__name__).exception("eerste synchronisatie van de inhoud mislukt")
    else:
        services.knowledge.refresh_taxonomy()  # labels and facets without indexing (another process does that)
    if watch if watch is not None else not settings.testing:
        services.start_watching()
        services.start_semantic()
        services.start_jobs()  # sending due mail, digests: one thread per process

    from flask_wtf.csrf import CSRFProtect

    from wijkwijzer.web import (
        alerts,
        api,
        coordinator,
        errors,
        formats,
        helpdesk,
        invitations,
        opendata,
        readlist,
        security,
        site,
    )

    csrf = CSRFProtect(app)
    app.register_blueprint(site.bp)
    app.register_blueprint(helpdesk.bp)
    app.register_blueprint(invitations.bp)
    app.register_blueprint(coordinator.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(alerts.bp)
    # A mail program's one-click unsubscribe (RFC 8058) POSTs without our form token; the signed link is the proof.
    csrf.exempt(alerts.unsubscribe)
    app.register_blueprint(readlist.bp)
    # The JSON API authenticates every call itself (session or HTTP Basic) and only takes application/json,
    # which a cross-site form cannot send; it needs no form token.
    csrf.exempt(api.bp)
    # The limits hold only a weak reference to their Limiter: the app must keep it alive.
    app.extensions["wijkwijzer.limiter"] = security.register(app, settings)
    opendata.register(app)  # cases listing, exports, OpenAPI, DCAT, sitemap, robots.txt, canonical URLs, JSON-LD
    errors.register(app)
    site.register_template_helpers(app)
    formats.register(app)  # Flask-Babel (Dutch, Europe/Amsterdam) and the filters for dates, numbers, plurals
    return app
