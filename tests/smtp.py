"""A real SMTP server in the test process (aiosmtpd) for the mail tests: it keeps what it accepts, can refuse
addresses, and can be stopped and started again to play an outage. The `smtp` fixture (tests/conftest.py)
starts one per test."""

from __future__ import annotations

import email
import threading
from email import policy

from aiosmtpd.controller import Controller

from tests.servers import free_port


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and refuses the addresses in `refuse` with 550."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.raw: list[bytes] = []
        self.refuse: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.raw.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class Server:
    """A real SMTP server on a free loopback port that a test can stop and start again (an outage)."""

    def __init__(self, **options) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self.controller: Controller | None = None
        self.options = options

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **self.options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def parts(message) -> tuple[str, str]:
    """The plain-text and HTML bodies of a received mail (decoded)."""
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html
