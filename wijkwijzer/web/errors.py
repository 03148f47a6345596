"""Dutch error pages for people and JSON errors for the API."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

MESSAGES = {
    400: "De vraag aan de server klopt niet.",
    404: "Deze pagina bestaat niet (meer).",
    405: "Deze actie kan hier niet.",
    413: "U stuurt te veel tekst in één keer.",
    429: "U doet te veel verzoeken achter elkaar. Probeer het over een minuut opnieuw.",
    500: "Er ging bij ons iets mis.",
}


def register(app: Flask) -> None:
    """Attach handlers for HTTP errors and for unexpected exceptions."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return _render(exc.code or 500)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("onverwachte fout bij %s %s", request.method, request.path)
        return _render(500)


def _render(code: int):
    message = MESSAGES.get(code, "Er ging iets mis.")
    if request.path.startswith("/api/"):
        return jsonify({"error": message, "status": code}), code
    return render_template("error.html", code=code, message=message), code
