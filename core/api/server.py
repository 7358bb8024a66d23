"""Run the API on uvicorn: ``python -m core serve`` and ``make api``."""

from __future__ import annotations

import uvicorn

from core.api.app import create_app
from core.api.auth import check_bind
from core.config import Settings


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve until interrupted. Raises InputError for a non-loopback ``host`` without API tokens."""
    host = host or settings.api_host
    check_bind(host, settings.api_token_list)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=settings.api_port if port is None else port,
        log_config=None,  # the process's logging set-up stays in charge
        access_log=False,  # each request is one structured event of our own instead
    )
