"""A small OpenID Connect provider on 127.0.0.1, for signing in to the dashboard in tests.

It speaks the authorization-code flow that Streamlit's ``st.login`` runs through Authlib:

- ``GET /.well-known/openid-configuration``: the discovery document (issuer, endpoints,
  RS256, PKCE S256);
- ``GET /authorize``: a sign-in form (one email field) standing in for the provider's own
  login page; ``POST /authorize`` checks ``client_id`` and ``redirect_uri`` and sends the
  browser back with a one-time code and the caller's ``state``;
- ``POST /token``: checks the client secret (HTTP Basic or form), the code, its redirect
  URI and the PKCE verifier, and answers with an access token and an ID token signed with
  the provider's RSA key (``iss``, ``sub``, ``aud``, ``exp``, ``iat``, ``nonce``, ``email``,
  ``email_verified``, ``name``);
- ``GET /jwks``: the public key;
- ``GET /logout``: the end-session endpoint; it forgets the browser and redirects to
  ``post_logout_redirect_uri``.

Every request is recorded (method and path), so a test can tell the flow went through it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

#: Seconds an ID token is valid.
TOKEN_LIFETIME = 600


@dataclass
class _Grant:
    """What an authorization code stands for until it is exchanged (once)."""

    email: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None


@dataclass
class OIDCProvider:
    """The provider's state: its client, signing key, pending codes and the requests seen."""

    client_id: str = "dealcast-test"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "test-key"}))
    requests: list[str] = field(default_factory=list)
    _grants: dict[str, _Grant] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        assert self._server is not None, "start() the provider first"
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile"],
        }

    def start(self) -> OIDCProvider:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.provider = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- the flow ----------------------------------------------------------------------

    def grant(self, form: dict[str, str]) -> str:
        """A new code for the signed-in ``email``; raises ValueError on a wrong client or URI."""
        if form.get("client_id") != self.client_id:
            raise ValueError("unknown client_id")
        if not form.get("redirect_uri", "").startswith("http://127.0.0.1:"):
            raise ValueError("redirect_uri not registered")
        code = secrets.token_urlsafe(16)
        self._grants[code] = _Grant(email=form["email"], redirect_uri=form["redirect_uri"],
                                    nonce=form.get("nonce") or None,
                                    code_challenge=form.get("code_challenge") or None)
        return code

    def exchange(self, form: dict[str, str], basic_auth: tuple[str, str] | None) -> dict[str, Any]:
        """The token response for a code; raises ValueError when anything does not match."""
        client_id, secret = basic_auth or (form.get("client_id", ""), form.get("client_secret", ""))
        if (client_id, secret) != (self.client_id, self.client_secret):
            raise ValueError("invalid_client")
        grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            raise ValueError("invalid_grant")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise ValueError("redirect_uri differs from the authorization request's")
        if grant.code_challenge is not None:
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.code_challenge:
                raise ValueError("PKCE code_verifier does not match")
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": hashlib.sha256(grant.email.encode()).hexdigest()[:16],
                  "aud": self.client_id, "iat": now, "exp": now + TOKEN_LIFETIME, "email": grant.email,
                  "email_verified": True, "name": grant.email.split("@")[0].title()}
        if grant.nonce:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)
        return {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME, "id_token": id_token}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}


SIGN_IN_PAGE = """<!doctype html><title>Test identity provider</title>
<h1>Sign in to the test identity provider</h1>
<form method="post" action="/authorize">{hidden}
<label>Email <input name="email" type="email" autofocus></label>
<button type="submit">Sign in</button></form>"""


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    @property
    def provider(self) -> OIDCProvider:
        return self.server.provider  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        self.provider.requests.append(f"GET {url.path}")
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/.well-known/openid-configuration":
            self._json(200, self.provider.metadata())
        elif url.path == "/jwks":
            self._json(200, self.provider.jwks())
        elif url.path == "/authorize":
            hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                             for k, v in query.items())
            self._send(200, SIGN_IN_PAGE.format(hidden=hidden).encode(), "text/html; charset=utf-8")
        elif url.path == "/logout":
            self._redirect(query.get("post_logout_redirect_uri", "/"), {})
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        self.provider.requests.append(f"POST {url.path}")
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        try:
            if url.path == "/authorize":
                code = self.provider.grant(form)
                self._redirect(form["redirect_uri"], {"code": code, "state": form.get("state", "")})
            elif url.path == "/token":
                self._json(200, self.provider.exchange(form, self._basic_auth()))
            else:
                self._send(404, b"not found", "text/plain")
        except ValueError as exc:
            self._json(400, {"error": "invalid_request", "error_description": str(exc)})

    def _basic_auth(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return urllib.parse.unquote(user), urllib.parse.unquote(password)

    def _redirect(self, target: str, params: dict[str, str]) -> None:
        separator = "&" if "?" in target else "?"
        location = f"{target}{separator}{urllib.parse.urlencode(params)}" if params else target
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def oidc_provider() -> Iterator[OIDCProvider]:
    """A running test identity provider on loopback, stopped after the test."""
    provider = OIDCProvider().start()
    yield provider
    provider.stop()
