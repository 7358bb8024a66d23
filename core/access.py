"""Who may use the dashboard once login is on: the allow-list of emails and domains.

The dashboard signs people in with Streamlit's own OIDC login (``st.login``, configured in
``.streamlit/secrets.toml``'s ``[auth]``); the identity provider says who someone is, and
this module says whether that person gets in. It fails closed: with login on and neither
``DEALCAST_ALLOWED_EMAILS`` nor ``DEALCAST_ALLOWED_DOMAINS`` set, nobody does (a Google
login alone would let in anyone with a Google account).

It also names who did something, for the record kept with a snapshot (``uploaded_by``) and
the log of a deletion (``deleted_by``): the signed-in email on the dashboard, and
``cli:<OS account>`` for the command line (``command_line_user``).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from core.config import Settings


@dataclass(frozen=True)
class AccessDecision:
    """Whether a signed-in identity may use the dashboard, and the reason to show if not."""

    allowed: bool
    reason: str = ""


def _listed(raw: str) -> frozenset[str]:
    return frozenset(item.strip().lower().lstrip("@") for item in raw.split(",") if item.strip())


def decide_access(
    email: str | None, settings: Settings, *, email_verified: bool | None = None
) -> AccessDecision:
    """Allow ``email`` when it is in ``allowed_emails`` or its domain in ``allowed_domains``
    (both compared without case). A provider that says the email is not verified is refused."""
    emails, domains = _listed(settings.allowed_emails), _listed(settings.allowed_domains)
    if not emails and not domains:
        return AccessDecision(False, "No one is allowed yet: the administrator sets DEALCAST_ALLOWED_EMAILS "
                                     "or DEALCAST_ALLOWED_DOMAINS.")
    if not email:
        return AccessDecision(False, "The identity provider did not give an email address.")
    if email_verified is False:
        return AccessDecision(False, f"The identity provider has not verified {email}.")
    address = email.strip().lower()
    _, at, domain = address.rpartition("@")
    if at and (address in emails or domain in domains):
        return AccessDecision(True)
    return AccessDecision(False, f"{email} is not on this dashboard's allow-list. Ask its administrator "
                                 "to add you to DEALCAST_ALLOWED_EMAILS or DEALCAST_ALLOWED_DOMAINS.")


def command_line_user() -> str:
    """Who runs a command-line command, as recorded with what it uploads or deletes: ``cli:<OS account>``.

    A command has no signed-in email, but it runs under an operating-system account, which an
    auditor can trace (login records, sudo logs, the scheduler's job owner). The ``cli:`` prefix
    says it is that account, not an identity a login provider checked. ``cli:unknown`` when the
    account has no name (a container running as a bare uid)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:unknown"
