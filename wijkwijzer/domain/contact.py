"""The `contact` field of a case study ("Meer weten"): a name as plain text, or a mapping with a name, an e-mail
address, a phone number and a web address, each checked for its format. Pure functions, linear patterns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

CONTACT_KEYS = ("name", "email", "phone", "url")
# Local part and domain without nested repetition: each character is looked at once.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_PHONE_CHARS = re.compile(r"[\d\s()+./-]+")


@dataclass(frozen=True)
class Contact:
    """Who to ask about a case study; empty strings for what the case does not give."""

    name: str = ""
    email: str = ""
    phone: str = ""
    url: str = ""

    @property
    def tel(self) -> str:
        """The phone number for a `tel:` link: international form for Dutch numbers (+31...), else the digits."""
        return phone_uri(self.phone)


def parse_contact(value: object) -> tuple[Contact, list[str]]:
    """Text (a name) or a mapping with name, email, phone and url. Returns what is valid and one Dutch message
    per problem; an invalid part is left out."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return Contact(name=" ".join(str(value).split())), []
    if not isinstance(value, dict):
        return Contact(), ["verwacht tekst (een naam) of de velden name, email, phone en url"]
    problems: list[str] = []
    unknown = sorted(str(k) for k in value if str(k) not in CONTACT_KEYS)
    if unknown:
        problems.append(f"onbekend veld '{unknown[0]}' in contact; toegestaan: {', '.join(CONTACT_KEYS)}")
    parts = {}
    for key in CONTACT_KEYS:
        raw = value.get(key)
        if raw is None or raw == "":
            parts[key] = ""
            continue
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            problems.append(f"contact.{key}: verwacht tekst")
            parts[key] = ""
            continue
        parts[key] = " ".join(str(raw).split())
    if parts["email"] and not valid_email(parts["email"]):
        problems.append(f"contact.email: '{parts['email'][:100]}' is geen e-mailadres (zoals wijkteam@gemeente.nl)")
        parts["email"] = ""
    if parts["phone"] and not phone_uri(parts["phone"]):
        problems.append(f"contact.phone: '{parts['phone'][:100]}' is geen telefoonnummer (zoals 010 123 45 67, "
                        "+31 10 123 45 67 of 14 010)")
        parts["phone"] = ""
    if parts["url"] and not valid_url(parts["url"]):
        problems.append(f"contact.url: '{parts['url'][:100]}' is geen webadres (zoals https://www.gemeente.nl/wijk)")
        parts["url"] = ""
    if not any(parts.values()) and not problems:
        problems.append("contact is leeg; geef ten minste een naam, e-mailadres, telefoonnummer of webadres")
    return Contact(**parts), problems


def valid_email(text: str) -> bool:
    """A plain e-mail address (no display name), at most 254 characters."""
    return len(text) <= 254 and _EMAIL.fullmatch(text) is not None and ".." not in text


def valid_url(text: str) -> bool:
    """An http(s) address with a host name that has a dot, and no spaces."""
    if len(text) > 2000 or any(c.isspace() for c in text):
        return False
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and "." in (parts.hostname or "")


def phone_uri(text: str) -> str:
    """The `tel:` form of a phone number, or '' when it is not one.

    Dutch numbers have ten digits starting with 0 (010 123 45 67 becomes +31101234567); municipalities' short
    numbers are 14 followed by the area code (14 010); international numbers start with + or 00 and have 8 to
    15 digits (E.164).
    """
    if len(text) > 40 or not _PHONE_CHARS.fullmatch(text):
        return ""
    digits = "".join(c for c in text if c.isdigit())
    if text.lstrip().startswith("+") or digits.startswith("00"):
        digits = digits[2:] if digits.startswith("00") else digits
        if digits.startswith("310"):  # +31 (0)10 ...: the 0 is not dialled after the country code
            digits = "31" + digits[3:]
        return f"+{digits}" if 8 <= len(digits) <= 15 else ""
    if len(digits) == 10 and digits.startswith("0"):
        return "+31" + digits[1:]
    if digits.startswith("140") and 5 <= len(digits) <= 6:
        return digits
    if digits.startswith(("0800", "0900", "0906", "0909")) and 8 <= len(digits) <= 11:
        return "+31" + digits[1:]
    return ""
