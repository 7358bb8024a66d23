"""Who may call the API: bearer tokens from ``DEALCAST_API_TOKENS``, and where it may listen.

Tokens are compared in constant time (``hmac.compare_digest`` against every configured
token, without stopping at the first match) and never logged. With no tokens set the API
asks for none, and ``check_bind`` refuses any address but loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.errors import InputError

_bearer = HTTPBearer(auto_error=False, description="one of the tokens in DEALCAST_API_TOKENS")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: tuple[str, ...]) -> None:
    """Raise InputError when ``host`` is not loopback and no tokens are configured."""
    if tokens or is_loopback(host):
        return
    raise InputError(
        f"Refusing to listen on {host} without DEALCAST_API_TOKENS: anyone who can reach this "
        "machine could read the forecasts and load data. Set DEALCAST_API_TOKENS (comma-separated "
        "bearer tokens) or listen on 127.0.0.1."
    )


def token_matches(given: str, tokens: tuple[str, ...]) -> bool:
    """Whether ``given`` is one of ``tokens``; the time taken does not depend on which, or how close."""
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given.encode(), token.encode())
    return found


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Dependency: 401 unless the request carries a configured bearer token (when any are set)."""
    tokens: tuple[str, ...] = request.app.state.api_tokens
    if not tokens:
        return
    if credentials is None or not token_matches(credentials.credentials, tokens):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Missing or unknown bearer token: send 'Authorization: Bearer <token>' with one of "
            "the tokens in DEALCAST_API_TOKENS.",
            headers={"WWW-Authenticate": "Bearer"},
        )

