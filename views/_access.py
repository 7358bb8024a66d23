"""Login: Streamlit's own OIDC sign-in in front of every page, and the allow-list.

With an ``[auth]`` section in ``.streamlit/secrets.toml`` (README, "Login"), ``login_gate``
runs before any page: a visitor who is not signed in sees only a sign-in button (one per
provider configured); someone signed in but not allowed by ``core.access`` sees why and a
log-out button. Without ``[auth]``, the sidebar says the dashboard is open to anyone who
can reach it.
"""

from __future__ import annotations

import streamlit as st

from core.access import decide_access
from core.config import get_settings
from core.formatting import plain_markdown

#: Keys of an [auth] provider section (Streamlit's rule for telling one from a setting).
_PROVIDER_KEYS = {"client_id", "client_secret", "server_metadata_url"}


def _auth_section() -> dict:
    """``[auth]`` of the secrets file, empty when there is none (login off)."""
    if not st.secrets.load_if_toml_exists():
        return {}
    auth = st.secrets.get("auth")
    return auth.to_dict() if auth else {}


def login_providers() -> list[str | None]:
    """The providers to offer: ``None`` for one provider set directly in ``[auth]``, else the
    names of its ``[auth.NAME]`` sections (google, microsoft, okta, auth0...); empty when
    login is off."""
    auth = _auth_section()
    if not auth:
        return []
    named = [name for name, value in auth.items()
             if isinstance(value, dict) and _PROVIDER_KEYS & value.keys()]
    return named or [None]


def signed_in_email() -> str | None:
    """The email of whoever is signed in; None when login is off or nobody is."""
    if not st.user.get("is_logged_in"):
        return None
    email = st.user.get("email")
    return str(email) if email else None


def _sign_in_page(providers: list[str | None]) -> None:
    st.title("Dealcast")
    st.write("This dashboard holds the company's pipeline and cash forecast. Sign in to continue.")
    for provider in providers:
        label = "Sign in" if provider is None else f"Sign in with {provider.title()}"
        if st.button(label, type="primary", key=f"login:{provider}"):
            st.login(provider)


def login_gate() -> str | None:
    """Stop the run unless the visitor may use the dashboard; return their email (None when
    login is off). Draws the sidebar's note on who is signed in, or that anyone may enter."""
    providers = login_providers()
    if not providers:
        st.sidebar.caption(":orange[:material/lock_open: Open to anyone who can reach this server.] "
                           "Login is off: see the README, \"Login\".")
        return None
    if not st.user.get("is_logged_in"):
        _sign_in_page(providers)
        st.stop()
    email = signed_in_email()
    verified = st.user.get("email_verified")
    decision = decide_access(email, get_settings(),
                             email_verified=None if verified is None else bool(verified))
    if not decision.allowed:
        st.title("Dealcast")
        st.error(f"Access refused. {plain_markdown(decision.reason)}", icon=":material/block:")
        if st.button("Log out", key="logout"):
            st.logout()
        st.stop()
    with st.sidebar:
        st.caption(f":material/account_circle: Signed in as **{plain_markdown(email)}**")
        if st.button("Log out", key="logout"):
            st.logout()
    return email
