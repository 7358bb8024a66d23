"""structlog, configured once per process: every log event as one JSON object (or a console line).

``DEALCAST_LOG_FORMAT`` picks ``json`` or ``console``; ``auto`` (the default) is json unless
stderr is a terminal. Standard-library loggers (``core.llm``, uvicorn) go through the same
formatter, with their ``extra`` fields as event keys. When tracing is on, each event carries
the current ``trace_id`` and ``span_id``.

Like ``logging.basicConfig``, nothing is installed when the root logger already has a
handler (a host such as pytest owns the output), unless ``force`` says so.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from core.monitoring.tracing import trace_ids

_HANDLER_NAME = "dealcast"


def _add_trace_ids(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    event.update(trace_ids())
    return event


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each event."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def wants_json(fmt: str, stream: TextIO | None = None) -> bool:
    """``json``/``console`` as given; ``auto``: json unless the stream is a terminal."""
    fmt = fmt.strip().lower()
    if fmt not in ("auto", "json", "console"):
        raise ValueError(f"DEALCAST_LOG_FORMAT={fmt!r} is not one of auto, json, console")
    if fmt == "auto":
        stream = stream or sys.stderr
        return not (hasattr(stream, "isatty") and stream.isatty())
    return fmt == "json"


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _add_trace_ids,
]

# structlog events always go through standard logging: with no handler configured (a library
# use, a test) they follow its rules (warnings and up on stderr) instead of printing to stdout.
structlog.configure(
    processors=[
        structlog.stdlib.filter_by_level, *_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)


def configure_logging(
    fmt: str = "auto", *, level: int = logging.INFO, stream: TextIO | None = None, force: bool = False
) -> None:
    """Send structlog and standard logging through one formatter on stderr (or ``stream``)."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == _HANDLER_NAME]
    if root.handlers and not ours and not force:
        return
    for handler in ours:
        root.removeHandler(handler)
    renderer = (
        structlog.processors.JSONRenderer()
        if wants_json(fmt, stream)
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root.addHandler(handler)
    root.setLevel(level)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
