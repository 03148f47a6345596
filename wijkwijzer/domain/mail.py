"""A mail as the outbox stores it, and the retry schedule of its delivery. Pure: no I/O, no SMTP."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# Outbox states: waiting to be sent (also between retries), being sent by one sender, delivered, given up.
PENDING, SENDING, SENT, FAILED = "wacht", "bezig", "verzonden", "mislukt"
STATES = (PENDING, SENDING, SENT, FAILED)
# What each kind of mail is, for the outbox page (a kind without a label shows its name).
MAIL_KINDS = {
    "receipt": "Ontvangstbevestiging aan de aanvrager",
    "status": "Nieuwe status voor de aanvrager",
    "new_request": "Nieuwe aanvraag, aan een coördinator",
    "digest": "Dagoverzicht van nieuwe aanvragen, aan een coördinator",
    "alert_confirm": "Bevestiging van volgen, aan wie iets wil volgen",
    "alert_known": "Melding 'u volgt dit al', aan wie iets volgt",
    "alert_digest": "Overzicht van nieuwe praktijkvoorbeelden, aan wie iets volgt",
}
STATE_LABELS = {PENDING: "Wacht op verzending", SENDING: "Wordt verzonden", SENT: "Verzonden", FAILED: "Mislukt"}
# After this many failed attempts a temporary error is given up on (about two days with the backoff below).
MAX_ATTEMPTS = 12
FIRST_DELAY = dt.timedelta(minutes=1)
LONGEST_DELAY = dt.timedelta(hours=6)


@dataclass(frozen=True)
class Message:
    """One mail: recipient, subject, the plain-text and HTML versions, what kind it is (the template name) and
    the help request it is about, if any. `headers` are extra headers (List-Unsubscribe, for instance)."""

    to: str
    subject: str
    text: str
    html: str
    kind: str
    request_id: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def retry_delay(attempts: int) -> dt.timedelta:
    """How long to wait before the next try after `attempts` failed ones: 1, 2, 4, ... minutes, at most 6 hours."""
    if attempts < 1:
        return dt.timedelta(0)
    return min(FIRST_DELAY * (2 ** min(attempts - 1, 20)), LONGEST_DELAY)
