"""The allow-list that decides who may use the dashboard once login is on."""

from __future__ import annotations

import getpass

import pytest

from core.access import command_line_user, decide_access
from core.config import Settings

SETTINGS = Settings(allowed_emails="Ana@Finance.example, auditor@partner.example",
                    allowed_domains="@treasury.example")


@pytest.mark.parametrize("email", ["ana@finance.example", "ANA@FINANCE.EXAMPLE", "auditor@partner.example",
                                   "bob@treasury.example", "Bob@Treasury.Example"])
def test_listed_emails_and_domains_get_in(email):
    assert decide_access(email, SETTINGS).allowed


REFUSED = ("eve@elsewhere.example", "bob@sub.treasury.example", "bob@treasury.example.evil",
           "ana@finance.example.evil", "treasury.example")


@pytest.mark.parametrize("email", REFUSED)
def test_anyone_else_is_refused_with_the_settings_to_change(email):
    decision = decide_access(email, SETTINGS)

    assert not decision.allowed
    assert "DEALCAST_ALLOWED_EMAILS or DEALCAST_ALLOWED_DOMAINS" in decision.reason


def test_no_email_or_an_unverified_one_is_refused():
    assert "did not give an email" in decide_access(None, SETTINGS).reason
    unverified = decide_access("ana@finance.example", SETTINGS, email_verified=False)
    assert not unverified.allowed and "not verified" in unverified.reason
    assert decide_access("ana@finance.example", SETTINGS, email_verified=True).allowed


def test_empty_lists_let_nobody_in():
    decision = decide_access("ana@finance.example", Settings())

    assert not decision.allowed and "No one is allowed yet" in decision.reason


def test_the_command_line_is_recorded_as_its_os_account(monkeypatch):
    monkeypatch.setattr(getpass, "getuser", lambda: "ana")
    assert command_line_user() == "cli:ana"


def test_an_os_account_without_a_name_is_recorded_as_unknown(monkeypatch):
    def nameless() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", nameless)
    assert command_line_user() == "cli:unknown"
