"""Wijkwijzer: the knowledge base and expert matching of the Nationaal Programma Leefbaarheid en Veiligheid."""

from __future__ import annotations

import logging

from flask import Flask

from wijkwijzer.config import Settings
from wijkwijzer.services import Services

__version__ = "0.1.0"


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
    )
    app.json.ensure_ascii = False
    services = Services.build(settings)
    app.extensions["wijkwijzer"] = services
    if sync:
        try:
            services.sync()
        except Exception:
            logging.getLogger(__name__).exception("eerste synchronisatie van de inhoud mislukt")
    if watch if watch is not None else not settings.testing:
        services.start_watching()
        services.start_semantic()

    from wijkwijzer.web import api, errors, site

    app.register_blueprint(site.bp)
    app.register_blueprint(api.bp)
    errors.register(app)
    site.register_template_helpers(app)
    return app
