"""Mail over TLS through a real SMTP server in the test process (aiosmtpd) with a self-signed certificate made
here (openssl): STARTTLS and implicit TLS (smtps://) deliver when the certificate is trusted through `cafile`,
and the sender refuses a certificate it cannot verify (the mail waits in the outbox, nothing is lost)."""

from __future__ import annotations

import datetime as dt
import shutil
import ssl
import subprocess

import pytest

from tests.smtp import Server
from wijkwijzer.config import SettingsError, parse_smtp_url
from wijkwijzer.domain.mail import PENDING, SENT, Message
from wijkwijzer.mail.sender import SmtpSender
from wijkwijzer.storage.db import Store
from wijkwijzer.storage.outbox import Outbox

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def self_signed(folder, name: str, host: str = "localhost") -> tuple[str, str]:
    """A fresh self-signed certificate for `host` (and 127.0.0.1) and its key: (certificate, key) paths."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=DNS:{host},IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"), "relay")


def server_context(certificate: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def outbox(tmp_path):
    outbox = Outbox(Store(tmp_path / "db.sqlite"))
    yield outbox
    outbox.store.close()


@pytest.fixture(params=["starttls", "smtps"])
def relay(request, certificate):
    """A server that speaks only TLS: STARTTLS required before any mail, or TLS from the first byte."""
    if request.param == "starttls":
        server = Server(tls_context=server_context(certificate), require_starttls=True)
    else:
        server = Server(ssl_context=server_context(certificate))
    server.start()
    yield request.param, server
    server.stop()


def url(kind: str, port: int, **options: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"timeout": "5", **options}.items())
    if kind == "starttls":
        return f"smtp://localhost:{port}?starttls=yes&{query}"
    return f"smtps://localhost:{port}?{query}"


def test_an_unverified_certificate_is_refused_and_the_mail_waits(relay, outbox):
    kind, server = relay
    mail_id = outbox.enqueue(Message("a@example.nl", "Onderwerp", "tekst", "<p>tekst</p>", "test"))
    sender = SmtpSender(parse_smtp_url(url(kind, server.port)), "noreply@example.nl")  # the system's CAs only
    report = sender.deliver(outbox, now=dt.datetime.now(dt.UTC))
    assert report.retry == [mail_id] and "CERTIFICATE_VERIFY_FAILED" in report.error
    assert outbox.get(mail_id)["status"] == PENDING and server.mailbox.messages == []


def test_a_trusted_certificate_delivers_over_tls(relay, outbox, certificate):
    kind, server = relay
    mail_id = outbox.enqueue(Message("a@example.nl", "Onderwerp", "tekst", "<p>tekst</p>", "test"))
    sender = SmtpSender(parse_smtp_url(url(kind, server.port, cafile=certificate[0])), "noreply@example.nl")
    assert sender.deliver(outbox, now=dt.datetime.now(dt.UTC)).sent == [mail_id]
    assert outbox.get(mail_id)["status"] == SENT
    (received,) = server.mailbox.messages  # the server takes mail only over TLS: it was encrypted
    assert received["Subject"] == "Onderwerp"


def test_the_host_name_is_verified_too(relay, outbox, tmp_path):
    kind, server = relay
    other = self_signed(tmp_path, "other", host="mail.example.org")  # trusted, but for another host
    mail_id = outbox.enqueue(Message("a@example.nl", "Onderwerp", "tekst", "<p>tekst</p>", "test"))
    sender = SmtpSender(parse_smtp_url(url(kind, server.port, cafile=other[0])), "noreply@example.nl")
    report = sender.deliver(outbox, now=dt.datetime.now(dt.UTC))
    assert report.retry == [mail_id] and "CERTIFICATE_VERIFY_FAILED" in report.error
    assert server.mailbox.messages == []


def test_cafile_is_checked_when_the_settings_are_read(tmp_path, certificate):
    with pytest.raises(SettingsError, match=r"cafile='/nergens\.pem' is no file"):
        parse_smtp_url("smtps://mail.example.nl?cafile=/nergens.pem")
    (tmp_path / "leeg.pem").write_text("geen certificaat")
    with pytest.raises(SettingsError, match="holds no readable PEM certificate"):
        parse_smtp_url(f"smtps://mail.example.nl?cafile={tmp_path / 'leeg.pem'}")
    with pytest.raises(SettingsError, match="cafile applies to an encrypted connection"):
        parse_smtp_url(f"smtp://mail.example.nl:25?cafile={certificate[0]}")
    assert parse_smtp_url(f"smtp://mail.example.nl:587?cafile={certificate[0]}").cafile == certificate[0]
