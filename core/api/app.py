"""The FastAPI application: routes, bearer tokens, upload limits, and errors as JSON.

Every error is ``{"detail": ...}`` with a status that says whose fault it is: 400 bad input,
401 no or unknown token, 404 unknown snapshot or deal, 413 upload too large, 422 a field
fails validation, 503 the LLM is needed and unavailable, or another process kept the
database file past ``DEALCAST_DB_LOCK_TIMEOUT`` (with Retry-After), 500
anything else, logged on the server and answered without a traceback.
"""

from __future__ import annotations

import contextlib
import logging

from fastapi import Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.api.auth import require_token
from core.api.routes import api, public
from core.api.runs import RunCache
from core.cashflow.engines import LLMPathUnavailableError
from core.config import Settings, get_settings
from core.connections import DatabaseBusyError
from core.errors import InputError, NotFoundError
from core.ingest.errors import FileTooLargeError
from core.llm.errors import LLMUnavailableError
from core.monitoring import observe_request

logger = logging.getLogger("core.api")

#: Room for the multipart framing around an upload's bytes.
MULTIPART_OVERHEAD = 64 * 1024

DESCRIPTION = """Dealcast over HTTP: the cash forecast, the writer, snapshots, receivables and backtests,
through the same services as the dashboard and `python -m core`.

Send `Authorization: Bearer <token>` with one of the tokens in `DEALCAST_API_TOKENS` (without any
tokens the server listens on loopback only and asks for none)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over the configured store and services (``get_store()``, ``get_llm_client()``...)."""
    settings = settings or get_settings()
    app = FastAPI(title="Dealcast API", version="1", description=DESCRIPTION)
    app.state.api_tokens = settings.api_token_list
    app.state.runs = RunCache()
    app.include_router(public)
    app.include_router(api, dependencies=[Depends(require_token)])
    for kind, code in _STATUS.items():
        app.add_exception_handler(kind, _answer(code))
    app.add_exception_handler(DatabaseBusyError, _busy)
    app.add_exception_handler(Exception, _internal)
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD)
    app.add_middleware(RequestObserver)  # added last: outermost, so it sees every answer
    return app


#: Dealcast errors and their statuses; subclasses first (the first match wins).
_STATUS: dict[type[Exception], int] = {
    FileTooLargeError: status.HTTP_413_CONTENT_TOO_LARGE,
    NotFoundError: status.HTTP_404_NOT_FOUND,
    InputError: status.HTTP_400_BAD_REQUEST,
    LLMPathUnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
    LLMUnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def _answer(code: int):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=code)

    return handler


async def _busy(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"}
    )


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__,
                 exc_info=exc)
    return JSONResponse(
        {"detail": f"Internal error ({type(exc).__name__}); the server log has the details."},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


class RequestObserver:
    """One span, one pair of metrics and one log event per request (``core.monitoring``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with observe_request(scope["method"]) as fields:

            async def noted(message: Message) -> None:
                if message["type"] == "http.response.start":
                    fields["status"] = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, noted)
            finally:
                route = scope.get("route")
                fields["route"] = getattr(route, "path", "(unmatched)")


class UploadLimit:
    """413 for a request body over ``max_bytes``, before it is read into memory or a temp file.

    The Content-Length header is checked first; a body without one (chunked) is counted as
    it arrives and cut off at the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        seen = 0
        over = False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                over = True
                raise _TooLargeError
            return message

        async def unless_over(message: Message) -> None:
            if not over:  # the app's own answer to the cut-off body is replaced by the 413
                await send(message)

        with contextlib.suppress(_TooLargeError):
            await self.app(scope, counted, unless_over)
        if over:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        megabytes = (self.max_bytes - MULTIPART_OVERHEAD) // (1024 * 1024)
        response = JSONResponse(
            {"detail": f"The request body is larger than the {megabytes} MB limit (DEALCAST_MAX_UPLOAD_MB)."},
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        )
        await response(scope, receive, send)


class _TooLargeError(Exception):
    """Raised inside the app when a counted body passes the limit."""
