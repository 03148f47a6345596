"""Dutch error pages for people and JSON errors for the API."""

from __future__ import annotations

import logging
import sqlite3

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from wijkwijzer.storage.engine import StorageUnavailable

log = logging.getLogger(__name__)

MESSAGES = {
    400: "De vraag aan de server klopt niet.",
    403: "Uw account heeft geen toegang tot deze pagina.",
    404: "Deze pagina bestaat niet (meer).",
    405: "Deze actie kan hier niet.",
    413: "U stuurt te veel tekst in één keer.",
    429: "U doet te veel verzoeken achter elkaar. Probeer het over een minuut opnieuw.",
    500: "Er ging bij ons iets mis.",
    503: "Opslaan lukt op dit moment niet. Wat al was opgeslagen, is niet verloren. Probeer het later opnieuw.",
}


def register(app: Flask) -> None:
    """Attach handlers for HTTP errors and for unexpected exceptions."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        body, code = _render(exc.code or 500)
        return body, code, [(k, v) for k, v in exc.get_headers() if k == "Retry-After"]  # a 429 says when

    @app.errorhandler(sqlite3.DatabaseError)
    def storage_unavailable(exc: sqlite3.DatabaseError):
        # A read-only, locked or full data folder (OperationalError, or "not authorized" from a read-only
        # Store): say so with 503, do not pretend the request is wrong. The message holds no request data, so
        # nothing personal reaches the log. Other database errors are bugs: a 500 with the traceback.
        if not isinstance(exc, sqlite3.OperationalError) and "not authorized" not in str(exc):
            return unexpected(exc)
        log.error("opslag niet beschikbaar bij %s %s: %s", request.method, request.path, exc)
        return _render(503)

    @app.errorhandler(StorageUnavailable)
    def database_unreachable(exc: StorageUnavailable):
        # PostgreSQL stopped or unreachable (storage/postgres.py): the same 503 as a read-only SQLite file.
        log.error("opslag niet beschikbaar bij %s %s: %s", request.method, request.path, exc)
        return _render(503)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("onverwachte fout bij %s %s", request.method, request.path)
        return _render(500)


def _render(code: int):
    message = MESSAGES.get(code, "Er ging iets mis.")
    if request.path.startswith("/api/"):
        return jsonify({"error": message, "status": code}), code
    return render_template("error.html", code=code, message=message), code
