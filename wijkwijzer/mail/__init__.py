"""Mail: composing Dutch messages from templates (compose.py), delivering the outbox over SMTP (sender.py) and
the mails about help requests (notices.py). No Flask: the site, the CLI and background jobs share it."""

from wijkwijzer.mail.compose import compose

__all__ = ["compose"]
